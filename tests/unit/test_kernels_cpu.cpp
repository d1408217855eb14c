// The CPU backend against naive double-precision loops written here, in float32 and float64;
// derivatives also against central finite differences in float64; optimizers also against numbers
// produced by torch.optim (PyTorch 1.13, float64). Run with OMP_NUM_THREADS=1 and =2: the default
// backend follows it, and the determinism case compares 1, 2 and 3 threads bit for bit. Also: the
// device scalars of a step (step_control, update_loss_scale, scale_by), casts, and the 16-bit storage
// path (bf16, f16) against f32.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <type_traits>
#include <tuple>
#include <vector>

#include "core/error.hpp"
#include "core/philox.hpp"
#include "core/tensor.hpp"
#include "kernels/cpu/cpu_backend.hpp"
#include "kernels/cpu/cpu_vmath.hpp"
#include "kernels/kernels.hpp"
#include "kernel_test_support.hpp"
#include "test_support.hpp"

using hpct::DType;
using hpct::Shape;
using hpct::Tensor;
using namespace hpct::kernels;

namespace {

using hpct::test::be;
using hpct::test::check_close;
using hpct::test::is_f32;
using hpct::test::Host;
using hpct::test::rand_host;
using hpct::test::to_double;
using hpct::test::tol;

void check_close_scalar(double got, double ref, double rtol, double atol, const std::string& what) {
  INFO(what, ": got ", got, ", expected ", ref);
  CHECK(std::abs(got - ref) <= atol + rtol * std::abs(ref));
}

using hpct::test::check_throws_with;
using hpct::test::same_bits;

// Sets or unsets environment variables for a scope and restores them afterwards.
class EnvGuard {
 public:
  explicit EnvGuard(std::vector<std::string> names) : names_(std::move(names)) {
    for (const auto& n : names_) {
      const char* v = std::getenv(n.c_str());
      saved_.push_back(v ? std::optional<std::string>(v) : std::nullopt);
      unsetenv(n.c_str());
    }
  }
  ~EnvGuard() {
    for (std::size_t i = 0; i < names_.size(); ++i) {
      if (saved_[i]) setenv(names_[i].c_str(), saved_[i]->c_str(), 1);
      else unsetenv(names_[i].c_str());
    }
  }
  EnvGuard(const EnvGuard&) = delete;
  EnvGuard& operator=(const EnvGuard&) = delete;

 private:
  std::vector<std::string> names_;
  std::vector<std::optional<std::string>> saved_;
};

const Activation kAllActivations[] = {Activation::identity, Activation::relu, Activation::gelu_tanh,
                                      Activation::gelu_exact, Activation::tanh, Activation::silu};

// ---- references in double -------------------------------------------------------------------------------
constexpr double kPi = 3.14159265358979323846;

double ref_act(Activation f, double x) {
  switch (f) {
    case Activation::identity: return x;
    case Activation::relu: return x > 0 ? x : 0.0;
    case Activation::gelu_tanh: return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / kPi) * (x + 0.044715 * x * x * x)));
    case Activation::gelu_exact: return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    case Activation::tanh: return std::tanh(x);
    case Activation::silu: return x / (1.0 + std::exp(-x));
  }
  return 0.0;
}

double ref_act_grad(Activation f, double x) {
  switch (f) {
    case Activation::identity: return 1.0;
    case Activation::relu: return x > 0 ? 1.0 : 0.0;
    case Activation::gelu_tanh: {
      const double k = std::sqrt(2.0 / kPi), u = k * (x + 0.044715 * x * x * x), t = std::tanh(u);
      return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * k * (1.0 + 3.0 * 0.044715 * x * x);
    }
    case Activation::gelu_exact:
      return 0.5 * (1.0 + std::erf(x / std::sqrt(2.0))) + x * std::exp(-0.5 * x * x) / std::sqrt(2.0 * kPi);
    case Activation::tanh: return 1.0 / (std::cosh(x) * std::cosh(x));
    case Activation::silu: {
      const double s = 1.0 / (1.0 + std::exp(-x));
      return s + x * s * (1.0 - s);
    }
  }
  return 0.0;
}

// C = alpha op(A) op(B) + beta C with A, B, C row-major.
std::vector<double> ref_gemm(const std::vector<double>& a, bool ta, const std::vector<double>& b, bool tb,
                             const std::vector<double>& c, std::int64_t m, std::int64_t n, std::int64_t k,
                             double alpha, double beta) {
  std::vector<double> out(static_cast<std::size_t>(m * n));
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      double s = 0.0;
      for (std::int64_t l = 0; l < k; ++l) {
        const double av = ta ? a[l * m + i] : a[i * k + l];
        const double bv = tb ? b[j * k + l] : b[l * n + j];
        s += av * bv;
      }
      out[i * n + j] = alpha * s + beta * c[i * n + j];
    }
  return out;
}

}  // namespace

// ================================================================================================
TEST_CASE("activation names parse and print") {
  CHECK(parse_activation("relu") == Activation::relu);
  CHECK(parse_activation("gelu") == Activation::gelu_tanh);
  CHECK(parse_activation("gelu-tanh") == Activation::gelu_tanh);
  CHECK(parse_activation("gelu-exact") == Activation::gelu_exact);
  CHECK(parse_activation("tanh") == Activation::tanh);
  CHECK(parse_activation("silu") == Activation::silu);
  CHECK(parse_activation("identity") == Activation::identity);
  for (const Activation a : kAllActivations) CHECK(parse_activation(to_string(a)) == a);
  CHECK(to_string(Activation::gelu_tanh) == "gelu-tanh");
  check_throws_with([] { parse_activation("swish"); }, "'swish'");
  check_throws_with([] { parse_activation("Relu"); }, "gelu-exact");
  check_throws_with([] { parse_activation(""); }, "valid:");
}

// The allocator no longer zeroes (callers fill on the stream): only alignment and writability are promised.
TEST_CASE("host buffers are 64-byte aligned, and 2 MiB aligned from 2 MiB on (huge pages)") {
  hpct::Allocator& host = be().allocator();
  for (const std::size_t bytes : {std::size_t{1}, std::size_t{100}, std::size_t{3} << 20}) {
    CAPTURE(bytes);
    auto* p = static_cast<unsigned char*>(host.allocate(bytes));
    REQUIRE(p != nullptr);
    const std::size_t align = bytes >= (std::size_t{2} << 20) ? std::size_t{2} << 20 : 64;
    CHECK(reinterpret_cast<std::uintptr_t>(p) % align == 0);
    std::memset(p, 0xff, bytes);  // all of it is writable
    host.deallocate(p);
  }
}

TEST_CASE("cpu backend identity and thread counts") {
  const auto one = make_cpu_backend(1);
  const auto two = make_cpu_backend(2);
  CHECK(one->threads() == 1);
  CHECK(two->threads() == 2);
  CHECK(one->name() == "cpu");
  CHECK(one->device().is_cpu());
  CHECK(one->allocator().device().is_cpu());
  CHECK(make_cpu_backend(0)->threads() == default_cpu_threads());
  CHECK(make_cpu_backend(-3)->threads() >= 1);
  CHECK(make_backend("cpu", 2)->threads() == 2);
  CHECK(make_backend("cpu")->name() == "cpu");
  check_throws_with([] { make_backend("gpu"); }, "unknown device 'gpu' (valid: cpu, cpu-async, cuda)");
}

// The synchronous backend's streams and events have nothing to wait for, but every host wait on the
// backend's thread counts, as on the asynchronous backends; read_to_host is one wait.
TEST_CASE("cpu streams and events: ops run at once, host waits are counted") {
  const auto b = make_cpu_backend(1);
  CHECK(&b->stream() == &b->default_stream());
  CHECK(b->host_syncs() == 0);
  b->synchronize();
  b->stream().synchronize();
  CHECK(b->host_syncs() == 2);
  const auto s = b->create_stream();
  const auto e = b->create_event();
  CHECK(e->query());  // never recorded
  {
    StreamGuard guard(*b, *s);
    CHECK(&b->stream() == s.get());
    Host<float> x(Shape{3}, 1.0f);
    b->scale(x.t(), 2.0);  // runs at once on any stream
    CHECK(x[2] == 2.0f);
    e->record(b->stream());
    CHECK(e->query());
    b->default_stream().wait(*e);
    e->synchronize();
    int ran = 0;
    s->launch_host([&] { ran = x[0] == 2.0f ? 1 : -1; });
    CHECK(ran == 1);
    CHECK(b->read<float>(x.t()) == std::vector<float>{2, 2, 2});
  }
  CHECK(&b->stream() == &b->default_stream());
  CHECK(b->host_syncs() == 4);  // e->synchronize and read_to_host
  // Waits on another thread are not the training thread's: not counted.
  std::thread other([&] { b->synchronize(); });
  other.join();
  CHECK(b->host_syncs() == 4);
  Host<double> dst(Shape{2});
  Host<float> src(Shape{2});
  check_throws_with([&] { b->read_to_host(src.t(), dst.t()); }, "read_to_host: dtypes differ");
}

TEST_CASE("ranks_on_node and default_cpu_threads read the launcher's environment") {
  const EnvGuard guard({"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS_PER_NODE", "OMP_NUM_THREADS"});
  CHECK(ranks_on_node() == 1);
  setenv("SLURM_NTASKS_PER_NODE", "4(x2)", 1);
  CHECK(ranks_on_node() == 4);
  setenv("MPI_LOCALNRANKS", "3", 1);
  CHECK(ranks_on_node() == 3);
  setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "2", 1);
  CHECK(ranks_on_node() == 2);
  setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "garbage", 1);
  CHECK(ranks_on_node() == 3);  // unparsable: the next variable decides

  setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "1000000", 1);
  CHECK(default_cpu_threads() == 1);  // more ranks than cores: at least one thread
  setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "1", 1);
  const int all = default_cpu_threads();
  CHECK(all >= 1);
  setenv("OMP_NUM_THREADS", "3", 1);
  CHECK(default_cpu_threads() == 3);  // an explicit OMP_NUM_THREADS wins
  CHECK(make_cpu_backend(0)->threads() == 3);
  setenv("OMP_NUM_THREADS", "0", 1);
  CHECK(default_cpu_threads() == all);
}

// ---- memory ------------------------------------------------------------------------------------
TEST_CASE_TEMPLATE("copy, fill and gather_rows", T, float, double) {
  auto src = rand_host<T>(Shape{5, 7}, 1);
  Host<T> dst(Shape{35});
  be().copy(dst.t(), src.t());
  CHECK(same_bits(dst.v, src.v));

  auto big_src = rand_host<T>(Shape{3'000'001}, 2);
  Host<T> big_dst(Shape{3'000'001});
  be().copy(big_dst.t(), big_src.t());
  CHECK(same_bits(big_dst.v, big_src.v));

  Host<T> wrong(Shape{34});
  check_throws_with([&] { be().copy(wrong.t(), src.t()); }, "copy: sizes differ");
  Host<std::int32_t> ints(Shape{35});
  check_throws_with([&] { be().copy(ints.t(), src.t()); }, "copy: dtypes differ");

  Host<T> f(Shape{100'003}, T(-1));
  be().fill(f.t(), 2.5);
  CHECK(std::all_of(f.v.begin(), f.v.end(), [](T x) { return x == T(2.5); }));
  Host<T> small(Shape{3, 3}, T(1));
  be().fill(small.t(), 0.0);
  CHECK(std::all_of(small.v.begin(), small.v.end(), [](T x) { return x == T(0); }));

  auto table = rand_host<T>(Shape{10, 3}, 3);
  Host<std::int64_t> index(Shape{4});
  index.v = {9, 0, 3, 3};
  Host<T> out(Shape{4, 3}, T(7));
  be().gather_rows(table.t(), index.t(), out.t());
  for (int i = 0; i < 4; ++i)
    for (int c = 0; c < 3; ++c) CHECK(out[i * 3 + c] == table[index[i] * 3 + c]);
  Host<std::int64_t> bad(Shape{2});
  bad.v = {2, 10};
  Host<T> out2(Shape{2, 3});
  check_throws_with([&] { be().gather_rows(table.t(), bad.t(), out2.t()); }, "index[1] = 10 is out of range");
  Host<std::int64_t> neg(Shape{1}, -1);
  Host<T> out1(Shape{1, 3});
  check_throws_with([&] { be().gather_rows(table.t(), neg.t(), out1.t()); }, "index[0] = -1");
  Host<T> out_wrong(Shape{4, 2});
  check_throws_with([&] { be().gather_rows(table.t(), index.t(), out_wrong.t()); }, "gather_rows: out is [4, 2]");
  Host<std::int32_t> index32(Shape{4});
  check_throws_with([&] { be().gather_rows(table.t(), index32.t(), out.t()); }, "gather_rows: index must be int64");

  // Many rows, so the gather runs in parallel blocks.
  auto rows = rand_host<T>(Shape{5000, 17}, 4);
  Host<std::int64_t> perm(Shape{20000});
  for (std::int64_t i = 0; i < perm.n(); ++i) perm[i] = (i * 7919) % 5000;
  Host<T> gathered(Shape{20000, 17});
  be().gather_rows(rows.t(), perm.t(), gathered.t());
  bool all_equal = true;
  for (std::int64_t i = 0; i < 20000; ++i)
    for (int c = 0; c < 17; ++c) all_equal = all_equal && gathered[i * 17 + c] == rows[perm[i] * 17 + c];
  CHECK(all_equal);
}

TEST_CASE("fill on integer and 16-bit tensors; non-float and off-device tensors are refused") {
  Host<std::int32_t> a(Shape{6});
  be().fill(a.t(), -4);
  CHECK(std::all_of(a.v.begin(), a.v.end(), [](std::int32_t x) { return x == -4; }));
  Host<std::int64_t> b(Shape{6});
  be().fill(b.t(), 1e12);
  CHECK(std::all_of(b.v.begin(), b.v.end(), [](std::int64_t x) { return x == 1'000'000'000'000; }));
  check_throws_with([&] { be().fill(a.t(), 1e10); }, "does not fit int32");
  Host<hpct::f16> h(Shape{4});
  be().fill(h.t(), 1.0 / 3.0);  // rounds to nearest-even: 0x3555
  CHECK(std::all_of(h.v.begin(), h.v.end(), [](hpct::f16 x) { return x.bits == 0x3555; }));
  Host<hpct::bf16> hb(Shape{4});
  be().fill(hb.t(), -2.0);
  CHECK(std::all_of(hb.v.begin(), hb.v.end(), [](hpct::bf16 x) { return x.bits == 0xc000; }));
  check_throws_with([&] { be().scale(a.t(), 2.0); }, "scale: x must be a floating-point tensor, got int32");
  std::vector<float> data(4);
  const Tensor on_gpu(data.data(), Shape{4}, DType::f32, hpct::Device{hpct::DeviceKind::cuda, 1});
  check_throws_with([&] { be().scale(on_gpu, 2.0); }, "scale: x is on cuda:1");
  const Tensor async(data.data(), Shape{4}, DType::f32, hpct::Device{hpct::DeviceKind::cpu_async, 0});
  check_throws_with([&] { be().fill(async, 2.0); }, "fill: tensor is on cpu-async");
  Host<float> host(Shape{4});
  check_throws_with([&] { be().copy(host.t(), on_gpu); }, "copy: src is on cuda:1");
}

// ---- gemm --------------------------------------------------------------------------------------
TEST_CASE_TEMPLATE("gemm: all transpose combinations with alpha and beta", T, float, double) {
  const std::int64_t m = 7, n = 5, k = 13;
  for (const bool ta : {false, true})
    for (const bool tb : {false, true}) {
      CAPTURE(ta);
      CAPTURE(tb);
      auto a = rand_host<T>(ta ? Shape{k, m} : Shape{m, k}, 10 + ta);
      auto b = rand_host<T>(tb ? Shape{n, k} : Shape{k, n}, 20 + tb);
      auto c = rand_host<T>(Shape{m, n}, 30);
      const double alpha = 0.7, beta = -1.3;
      const auto ref = ref_gemm(to_double(a), ta, to_double(b), tb, to_double(c), m, n, k, alpha, beta);
      be().gemm(a.t(), ta, b.t(), tb, c.t(), alpha, beta);
      check_close(c.v, ref, tol<T>(1e-5, 1e-13), tol<T>(1e-5, 1e-13), "gemm");

      // beta = 0 overwrites C, whatever it held (even NaN).
      Host<T> c0(Shape{m, n}, std::numeric_limits<T>::quiet_NaN());
      const auto ref0 = ref_gemm(to_double(a), ta, to_double(b), tb, std::vector<double>(m * n, 0.0), m, n, k, 1.0, 0.0);
      be().gemm(a.t(), ta, b.t(), tb, c0.t());
      check_close(c0.v, ref0, tol<T>(1e-5, 1e-13), tol<T>(1e-5, 1e-13), "gemm beta=0");
    }
}

TEST_CASE_TEMPLATE("gemm: folded leading dimensions, large sizes, empty inner dimension", T, float, double) {
  // A [2, 3, 4] is the matrix [6, 4]; C [2, 3, 5] is [6, 5].
  auto a = rand_host<T>(Shape{2, 3, 4}, 1);
  auto b = rand_host<T>(Shape{4, 5}, 2);
  Host<T> c(Shape{2, 3, 5});
  be().gemm(a.t(), false, b.t(), false, c.t());
  check_close(c.v, ref_gemm(to_double(a), false, to_double(b), false, std::vector<double>(30), 6, 5, 4, 1, 0),
              tol<T>(1e-5, 1e-13), tol<T>(1e-6, 1e-14), "gemm folded");
  // dW = X^T dY with X [2, 3, 4] (as [6, 4]) and dY [6, 5], accumulated (beta = 1).
  auto dy = rand_host<T>(Shape{6, 5}, 3);
  auto dw = rand_host<T>(Shape{4, 5}, 4);
  const auto ref_dw = ref_gemm(to_double(a), true, to_double(dy), false, to_double(dw), 4, 5, 6, 1, 1);
  be().gemm(a.t(), true, dy.t(), false, dw.t(), 1.0, 1.0);
  check_close(dw.v, ref_dw, tol<T>(1e-5, 1e-13), tol<T>(1e-5, 1e-13), "gemm accumulate");

  const std::int64_t m = 150, n = 131, k = 140;
  auto la = rand_host<T>(Shape{k, m}, 5);
  auto lb = rand_host<T>(Shape{k, n}, 6);
  auto lc = rand_host<T>(Shape{m, n}, 7);
  const auto ref = ref_gemm(to_double(la), true, to_double(lb), false, to_double(lc), m, n, k, 0.5, 2.0);
  be().gemm(la.t(), true, lb.t(), false, lc.t(), 0.5, 2.0);
  check_close(lc.v, ref, tol<T>(1e-5, 1e-12), tol<T>(1e-4, 1e-12), "gemm large");

  Host<T> e0(Shape{3, 0}), e1(Shape{0, 4});
  Host<T> ce(Shape{3, 4}, T(2));
  be().gemm(e0.t(), false, e1.t(), false, ce.t(), 1.0, 0.5);
  CHECK(std::all_of(ce.v.begin(), ce.v.end(), [](T x) { return x == T(1); }));
  be().gemm(e0.t(), false, e1.t(), false, ce.t(), 1.0, 0.0);
  CHECK(std::all_of(ce.v.begin(), ce.v.end(), [](T x) { return x == T(0); }));
}

TEST_CASE_TEMPLATE("gemm_bias: op(A) op(B) + bias on every row, one tile and many", T, float, double) {
  // [7, 5] is one tile; [600, 300] with k 64 is several tiles in both directions (see gemm_tiles).
  for (const auto& [m, n, k] : {std::tuple<std::int64_t, std::int64_t, std::int64_t>{7, 5, 13}, {600, 300, 64}})
    for (const bool ta : {false, true})
      for (const bool tb : {false, true}) {
        const auto m_ = m;  // CAPTURE's lambda cannot capture a structured binding (clang 14)
        CAPTURE(m_);
        CAPTURE(ta);
        CAPTURE(tb);
        auto a = rand_host<T>(ta ? Shape{k, m} : Shape{m, k}, 10 + ta);
        auto b = rand_host<T>(tb ? Shape{n, k} : Shape{k, n}, 20 + tb);
        auto bias = rand_host<T>(Shape{n}, 40);
        Host<T> c(Shape{m, n}, std::numeric_limits<T>::quiet_NaN());  // overwritten, NaN or not
        std::vector<double> with_bias(static_cast<std::size_t>(m * n));
        for (std::int64_t i = 0; i < m; ++i)
          for (std::int64_t j = 0; j < n; ++j) with_bias[i * n + j] = double(bias[j]);
        const auto ref = ref_gemm(to_double(a), ta, to_double(b), tb, with_bias, m, n, k, 1.0, 1.0);
        be().gemm_bias(a.t(), ta, b.t(), tb, bias.t(), c.t());
        check_close(c.v, ref, tol<T>(1e-5, 1e-13), tol<T>(1e-5, 1e-12), "gemm_bias");
      }
  // An empty inner dimension leaves just the bias rows.
  Host<T> a0(Shape{3, 0}), b0(Shape{0, 2}), c0(Shape{3, 2}, T(9));
  auto bias = rand_host<T>(Shape{2}, 41);
  be().gemm_bias(a0.t(), false, b0.t(), false, bias.t(), c0.t());
  CHECK(c0.v == std::vector<T>{bias[0], bias[1], bias[0], bias[1], bias[0], bias[1]});
  Host<T> wrong(Shape{3});
  check_throws_with([&] { be().gemm_bias(a0.t(), false, b0.t(), false, wrong.t(), c0.t()); },
                    "gemm_bias: bias [3] has 3 elements, expected 2");
}

// The fused kernels are exactly their unfused compositions: the same bits, on one tile and many.
TEST_CASE_TEMPLATE("gemm_bias_act and activation_bias_grad are gemm_bias + activation and activation + bias_grad",
                   T, float, double) {
  for (const auto& [m, n, k] : {std::tuple<std::int64_t, std::int64_t, std::int64_t>{7, 5, 13}, {600, 300, 64}})
    for (const Activation f : kAllActivations) {
      const auto m_ = m;  // CAPTURE's lambda cannot capture a structured binding (clang 14)
      CAPTURE(m_);
      CAPTURE(to_string(f));
      auto a = rand_host<T>(Shape{m, k}, 50);
      auto b = rand_host<T>(Shape{n, k}, 51);
      auto bias = rand_host<T>(Shape{n}, 52);
      Host<T> c(Shape{m, n}), y(Shape{m, n}), ref_c(Shape{m, n}), ref_y(Shape{m, n});
      be().gemm_bias_act(a.t(), false, b.t(), true, bias.t(), f, c.t(), y.t());
      be().gemm_bias(a.t(), false, b.t(), true, bias.t(), ref_c.t());
      be().activation_forward(f, ref_c.t(), ref_y.t());
      CHECK(same_bits(c.v, ref_c.v));
      CHECK(same_bits(y.v, ref_y.v));

      auto dy = rand_host<T>(Shape{m, n}, 53);
      auto db = rand_host<T>(Shape{n}, 54);  // accumulates into what is there
      Host<T> dx(Shape{m, n}), ref_dx(Shape{m, n});
      Host<T> ref_db = db;
      be().activation_bias_grad(f, c.t(), dy.t(), dx.t(), db.t());
      be().activation_backward(f, c.t(), dy.t(), ref_dx.t());
      be().bias_grad(ref_dx.t(), ref_db.t());
      CHECK(same_bits(dx.v, ref_dx.v));
      CHECK(same_bits(db.v, ref_db.v));
      Host<T> g = dy;  // dx aliases dy
      be().activation_bias_grad(f, c.t(), g.t(), g.t(), ref_db.t());
      CHECK(same_bits(g.v, dx.v));
    }
  Host<T> a(Shape{3, 4}), b(Shape{2, 4}), c(Shape{3, 2}), y(Shape{3, 2}), bias(Shape{2}), wrong(Shape{3});
  check_throws_with([&] { be().gemm_bias_act(a.t(), false, b.t(), true, bias.t(), Activation::relu, c.t(), c.t()); },
                    "gemm_bias_act: y must not alias C");
  Host<T> y_bad(Shape{2, 3});
  check_throws_with(
      [&] { be().gemm_bias_act(a.t(), false, b.t(), true, bias.t(), Activation::relu, c.t(), y_bad.t()); },
      "gemm_bias_act: shapes differ: C is [3, 2], y is [2, 3]");
  check_throws_with([&] { be().activation_bias_grad(Activation::relu, c.t(), y.t(), y.t(), wrong.t()); },
                    "activation_bias_grad: dbias [3] has 3 elements, expected 2");
}

TEST_CASE_TEMPLATE("gemm: shape and dtype errors", T, float, double) {
  Host<T> a(Shape{3, 5}), b(Shape{4, 2}), c(Shape{3, 2});
  check_throws_with([&] { be().gemm(a.t(), false, b.t(), false, c.t()); },
                    "gemm: inner dimensions differ: op(A) is [3, 5], op(B) is [4, 2]");
  Host<T> b2(Shape{5, 2}), cbad(Shape{2, 3});
  check_throws_with([&] { be().gemm(a.t(), false, b2.t(), false, cbad.t()); }, "op(A) op(B) is [3, 2]");
  check_throws_with([&] { be().gemm(a.t(), true, b2.t(), false, c.t()); }, "inner dimensions differ");
  using Other = std::conditional_t<is_f32<T>, double, float>;
  Host<Other> bo(Shape{5, 2});
  check_throws_with([&] { be().gemm(a.t(), false, bo.t(), false, c.t()); }, "gemm: dtypes differ");
  Host<std::int32_t> ai(Shape{3, 5});
  check_throws_with([&] { be().gemm(ai.t(), false, b2.t(), false, c.t()); }, "must be a floating-point tensor");
}

// ---- bias, axpy, scale, reductions --------------------------------------------------------------
TEST_CASE_TEMPLATE("bias_add and bias_grad", T, float, double) {
  for (const auto& [rows, cols] : {std::pair<std::int64_t, std::int64_t>{5, 3}, {1000, 37}, {3, 20000}}) {
    const auto rows_ = rows;  // CAPTURE's lambda cannot capture a structured binding (clang 14)
    CAPTURE(rows_);
    const auto cols_ = cols;  // CAPTURE's lambda cannot capture a structured binding (clang 14)
    CAPTURE(cols_);
    auto y = rand_host<T>(Shape{rows, cols}, 1);
    auto bias = rand_host<T>(Shape{cols}, 2);
    std::vector<double> ref(y.v.size());
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t c = 0; c < cols; ++c) ref[r * cols + c] = double(y[r * cols + c]) + double(bias[c]);
    be().bias_add(y.t(), bias.t());
    check_close(y.v, ref, tol<T>(1e-6, 1e-15), tol<T>(1e-6, 1e-15), "bias_add");

    auto dy = rand_host<T>(Shape{rows, cols}, 3);
    auto db = rand_host<T>(Shape{cols}, 4);  // bias_grad accumulates into what is there
    std::vector<double> ref_db = to_double(db);
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t c = 0; c < cols; ++c) ref_db[c] += double(dy[r * cols + c]);
    be().bias_grad(dy.t(), db.t());
    check_close(db.v, ref_db, tol<T>(1e-6, 1e-13), tol<T>(1e-6, 1e-13), "bias_grad");
  }
  Host<T> y(Shape{4, 3}), wrong(Shape{4});
  check_throws_with([&] { be().bias_add(y.t(), wrong.t()); }, "bias_add: bias [4] has 4 elements, expected 3");
  check_throws_with([&] { be().bias_grad(y.t(), wrong.t()); }, "bias_grad: dbias");
}

TEST_CASE_TEMPLATE("axpy and scale", T, float, double) {
  for (const std::int64_t n : {std::int64_t{7}, std::int64_t{100'001}}) {
    auto x = rand_host<T>(Shape{n}, 1);
    auto y = rand_host<T>(Shape{n}, 2);
    std::vector<double> ref(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) ref[i] = -0.75 * double(x[i]) + double(y[i]);
    be().axpy(-0.75, x.t(), y.t());
    check_close(y.v, ref, tol<T>(1e-6, 1e-15), tol<T>(1e-6, 1e-15), "axpy");
    for (std::int64_t i = 0; i < n; ++i) ref[i] = 3.0 * double(x[i]);
    be().scale(x.t(), 3.0);
    check_close(x.v, ref, tol<T>(1e-6, 1e-15), tol<T>(1e-6, 1e-15), "scale");
  }
  Host<T> a(Shape{4, 3}), b(Shape{3, 4});
  check_throws_with([&] { be().axpy(1.0, a.t(), b.t()); }, "axpy: shapes differ: x is [4, 3], y is [3, 4]");
}

namespace {

// sum_squares into a device scalar, read back.
double sum_squares_of(Backend& b, const Tensor& x) {
  Host<double> out(Shape{1}, 123.0);  // overwritten
  b.sum_squares(x, out.t());
  return out[0];
}

}  // namespace

TEST_CASE_TEMPLATE("sum_squares", T, float, double) {
  Host<T> empty(Shape{0});
  CHECK(sum_squares_of(be(), empty.t()) == 0.0);
  for (const std::int64_t n : {std::int64_t{5}, std::int64_t{16384}, std::int64_t{1'000'003}}) {
    auto x = rand_host<T>(Shape{n}, static_cast<std::uint64_t>(n), -2.0, 3.0);
    double ref = 0.0;
    for (const T v : x.v) ref += double(v) * double(v);
    check_close_scalar(sum_squares_of(be(), x.t()), ref, 1e-12, 0.0, "sum_squares");
  }
  Host<T> three(Shape{3});
  three[0] = T(1), three[1] = T(-2), three[2] = T(0.5);
  CHECK(sum_squares_of(be(), three.t()) == 5.25);
  Host<float> wrong(Shape{1});
  check_throws_with([&] { be().sum_squares(three.t(), wrong.t()); }, "sum_squares: out must be float64, got float32");
}

// The finiteness check of a step (first_nonfinite's successor): sum_squares is not finite exactly
// when an element is not, wherever it sits in the chunks.
TEST_CASE_TEMPLATE("sum_squares is not finite when an element is not", T, float, double) {
  const T nan = std::numeric_limits<T>::quiet_NaN(), inf = std::numeric_limits<T>::infinity();
  for (const std::int64_t n : {std::int64_t{100}, std::int64_t{200'000}}) {
    CAPTURE(n);
    auto x = rand_host<T>(Shape{n}, 1, -1e15, 1e15);
    x[n / 2] = T(1e15);
    CHECK(std::isfinite(sum_squares_of(be(), x.t())));
    Host<T> y = x;
    y[n - 1] = -inf;
    CHECK(std::isinf(sum_squares_of(be(), y.t())));
    y[n / 3] = nan;
    CHECK(std::isnan(sum_squares_of(be(), y.t())));
    Host<T> z = x;
    z[0] = nan;
    CHECK(std::isnan(sum_squares_of(be(), z.t())));
  }
}

// ---- activations --------------------------------------------------------------------------------
TEST_CASE_TEMPLATE("activation forward and backward against closed forms", T, float, double) {
  for (const std::int64_t n : {std::int64_t{1001}, std::int64_t{50'001}}) {
    auto x = rand_host<T>(Shape{n}, 5, -5.0, 5.0);
    x[0] = T(0);
    x[1] = T(-30);
    x[2] = T(30);
    auto dy = rand_host<T>(Shape{n}, 6);
    for (const Activation f : kAllActivations) {
      CAPTURE(to_string(f));
      CAPTURE(n);
      Host<T> y(Shape{n}), dx(Shape{n});
      std::vector<double> ref_y(n), ref_dx(n);
      for (std::int64_t i = 0; i < n; ++i) {
        ref_y[i] = ref_act(f, double(x[i]));
        ref_dx[i] = double(dy[i]) * ref_act_grad(f, double(x[i]));
      }
      be().activation_forward(f, x.t(), y.t());
      check_close(y.v, ref_y, tol<T>(2e-6, 1e-14), tol<T>(2e-6, 1e-14), "forward");
      be().activation_backward(f, x.t(), dy.t(), dx.t());
      check_close(dx.v, ref_dx, tol<T>(5e-6, 1e-13), tol<T>(5e-6, 1e-14), "backward");

      Host<T> inplace = x;  // y aliases x
      be().activation_forward(f, inplace.t(), inplace.t());
      CHECK(same_bits(inplace.v, y.v));
      Host<T> g = dy;  // dx aliases dy
      be().activation_backward(f, x.t(), g.t(), g.t());
      CHECK(same_bits(g.v, dx.v));
    }
  }
  Host<T> x(Shape{3, 4});
  Host<T> y(Shape{4, 3});
  check_throws_with([&] { be().activation_forward(Activation::relu, x.t(), y.t()); },
                    "activation_forward: shapes differ: x is [3, 4], y is [4, 3]");
  using Other = std::conditional_t<is_f32<T>, double, float>;
  Host<Other> yo(Shape{3, 4});
  check_throws_with([&] { be().activation_forward(Activation::relu, x.t(), yo.t()); },
                    "activation_forward: dtypes differ");
  Host<std::int32_t> xi(Shape{3, 4});
  check_throws_with([&] { be().activation_backward(Activation::relu, xi.t(), xi.t(), xi.t()); },
                    "activation_backward: x must be a floating-point tensor, got int32");
}

TEST_CASE_TEMPLATE("relu backward selects dy where x > 0, else +0 (also for a NaN or inf dy)", T, float, double) {
  // 19 elements: the vector loop and its scalar remainder both.
  const T inf = std::numeric_limits<T>::infinity(), nan = std::numeric_limits<T>::quiet_NaN();
  Host<T> x(Shape{19}), dy(Shape{19}), dx(Shape{19});
  for (std::int64_t i = 0; i < 19; ++i) {
    x[i] = i % 3 == 0 ? T(-1) : i % 3 == 1 ? T(0) : T(2);  // below, at and above the kink
    dy[i] = i % 4 == 0 ? nan : i % 4 == 1 ? -inf : T(-0.5) * T(i);
  }
  be().activation_backward(Activation::relu, x.t(), dy.t(), dx.t());
  for (std::int64_t i = 0; i < 19; ++i) {
    CAPTURE(i);
    if (x[i] > T(0)) {
      CHECK(same_bits(std::vector<T>{dx[i]}, std::vector<T>{dy[i]}));
    } else {
      CHECK(same_bits(std::vector<T>{dx[i]}, std::vector<T>{T(0)}));  // +0, not NaN, -inf or -0
    }
  }
}

TEST_CASE("activation derivatives match central finite differences (float64)") {
  const std::int64_t n = 401;
  auto x = rand_host<double>(Shape{n}, 9, -4.0, 4.0);
  for (auto& v : x.v)
    if (std::abs(v) < 1e-3) v = 0.5;  // keep relu's kink out of the differences
  const double h = 1e-6;
  Host<double> xp = x, xm = x;
  for (std::int64_t i = 0; i < n; ++i) xp[i] += h, xm[i] -= h;
  Host<double> ones(Shape{n}, 1.0);
  for (const Activation f : kAllActivations) {
    CAPTURE(to_string(f));
    Host<double> yp(Shape{n}), ym(Shape{n}), d(Shape{n});
    be().activation_forward(f, xp.t(), yp.t());
    be().activation_forward(f, xm.t(), ym.t());
    be().activation_backward(f, x.t(), ones.t(), d.t());
    std::vector<double> fd(n);
    for (std::int64_t i = 0; i < n; ++i) fd[i] = (yp[i] - ym[i]) / (2 * h);
    check_close(d.v, fd, 1e-6, 1e-7, "f'(x) vs finite differences");
  }
}

// ---- dropout ------------------------------------------------------------------------------------
TEST_CASE_TEMPLATE("dropout masks, scaling and backward", T, float, double) {
  const std::int64_t n = 100'003;
  const double p = 0.3;
  const std::uint64_t seed = 42, stream = 7;
  auto x = rand_host<T>(Shape{n}, 1, 0.5, 1.5);  // never 0, so y != 0 exactly where kept
  Host<T> y(Shape{n}), y2(Shape{n});
  be().dropout_forward(x.t(), y.t(), p, seed, stream);
  be().dropout_forward(x.t(), y2.t(), p, seed, stream);
  CHECK(same_bits(y.v, y2.v));

  std::int64_t kept = 0, mask_errors = 0, value_errors = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const bool keep = hpct::philox_uniform(seed, stream, static_cast<std::uint64_t>(i)) >= p;
    kept += keep;
    mask_errors += keep != (y[i] != T(0));
    value_errors += y[i] != (keep ? x[i] / static_cast<T>(1 - p) : T(0));
  }
  CHECK(mask_errors == 0);
  CHECK(value_errors == 0);
  const double frac = double(kept) / double(n), sigma = std::sqrt(p * (1 - p) / double(n));
  CHECK(std::abs(frac - (1 - p)) < 5 * sigma);

  Host<T> other(Shape{n}), reseeded(Shape{n});
  be().dropout_forward(x.t(), other.t(), p, seed, stream + 1);
  be().dropout_forward(x.t(), reseeded.t(), p, seed + 1, stream);
  std::int64_t differ_stream = 0, differ_seed = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    differ_stream += (other[i] != T(0)) != (y[i] != T(0));
    differ_seed += (reseeded[i] != T(0)) != (y[i] != T(0));
  }
  // Independent masks disagree on a fraction 2 p (1 - p) = 0.42 of the elements.
  CHECK(double(differ_stream) / double(n) > 0.38);
  CHECK(double(differ_seed) / double(n) > 0.38);

  auto dy = rand_host<T>(Shape{n}, 2);
  Host<T> dx(Shape{n});
  be().dropout_backward(dy.t(), dx.t(), p, seed, stream);
  std::int64_t grad_errors = 0;
  for (std::int64_t i = 0; i < n; ++i) grad_errors += dx[i] != (y[i] != T(0) ? dy[i] / static_cast<T>(1 - p) : T(0));
  CHECK(grad_errors == 0);

  Host<T> inplace = x;
  be().dropout_forward(inplace.t(), inplace.t(), p, seed, stream);
  CHECK(same_bits(inplace.v, y.v));

  // An odd-sized tensor, processed in one block, gets the prefix of the same mask.
  Host<T> xs(Shape{13});
  for (int i = 0; i < 13; ++i) xs[i] = x[i];
  Host<T> ys(Shape{13});
  be().dropout_forward(xs.t(), ys.t(), p, seed, stream);
  for (int i = 0; i < 13; ++i) CHECK(ys[i] == y[i]);

  Host<T> y0(Shape{n});
  be().dropout_forward(x.t(), y0.t(), 0.0, seed, stream);
  CHECK(same_bits(y0.v, x.v));
  check_throws_with([&] { be().dropout_forward(x.t(), y.t(), 1.0, seed, stream); }, "outside [0, 1)");
  check_throws_with([&] { be().dropout_backward(dy.t(), dx.t(), -0.1, seed, stream); }, "dropout_backward");
}

// Row keys: element k of batch row n is kept when philox_uniform(seed, stream, row_ids[n] K + k) >= p, so
// a batch permuted with its row ids gets the permuted mask (a DDP rank's half of a batch, in another
// order, draws what one process draws for those rows).
TEST_CASE_TEMPLATE("row-keyed dropout: the mask follows the data-set row, not the batch position", T, float, double) {
  const std::int64_t N = 7, K = 13;  // rows of 13: runs of counters cross Philox's 4-lane groups
  const double p = 0.4;
  const std::uint64_t seed = 5, stream = 11;
  auto x = rand_host<T>(Shape{N, K}, 3, 0.5, 1.5);  // never 0
  Host<std::int64_t> rows(Shape{N});
  const std::int64_t ids[] = {5, 0, 9, 3, 100000, 2, 1};
  for (std::int64_t n = 0; n < N; ++n) rows[n] = ids[n];
  Host<T> y(Shape{N, K});
  be().dropout_forward(x.t(), y.t(), p, seed, stream, rows.t());
  std::int64_t mask_errors = 0;
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t k = 0; k < K; ++k) {
      const auto c = static_cast<std::uint64_t>(rows[n] * K + k);
      const bool keep = hpct::philox_uniform(seed, stream, c) >= p;
      mask_errors += y[n * K + k] != (keep ? x[n * K + k] / static_cast<T>(1 - p) : T(0));
    }
  CHECK(mask_errors == 0);

  // The batch reversed, with its row ids: the rows' outputs, reversed.
  Host<T> xr(Shape{N, K}), yr(Shape{N, K});
  Host<std::int64_t> rr(Shape{N});
  for (std::int64_t n = 0; n < N; ++n) {
    rr[n] = rows[N - 1 - n];
    for (std::int64_t k = 0; k < K; ++k) xr[n * K + k] = x[(N - 1 - n) * K + k];
  }
  be().dropout_forward(xr.t(), yr.t(), p, seed, stream, rr.t());
  std::int64_t perm_errors = 0;
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t k = 0; k < K; ++k) perm_errors += yr[n * K + k] != y[(N - 1 - n) * K + k];
  CHECK(perm_errors == 0);
  // Backward: the same mask on dy.
  auto dy = rand_host<T>(Shape{N, K}, 4);
  Host<T> dx(Shape{N, K});
  be().dropout_backward(dy.t(), dx.t(), p, seed, stream, rows.t());
  std::int64_t grad_errors = 0;
  for (std::int64_t i = 0; i < N * K; ++i)
    grad_errors += dx[i] != (y[i] != T(0) ? dy[i] / static_cast<T>(1 - p) : T(0));
  CHECK(grad_errors == 0);

  // Row ids 0 .. N-1 give the unkeyed mask (counter n K + k = the flat index).
  Host<std::int64_t> iota(Shape{N});
  for (std::int64_t n = 0; n < N; ++n) iota[n] = n;
  Host<T> keyed(Shape{N, K}), plain(Shape{N, K});
  be().dropout_forward(x.t(), keyed.t(), p, seed, stream, iota.t());
  be().dropout_forward(x.t(), plain.t(), p, seed, stream);
  CHECK(same_bits(keyed.v, plain.v));

  // Bad row keys: a shape that does not split the tensor, the wrong dtype, ids whose counters overflow.
  Host<std::int64_t> three(Shape{3});
  check_throws_with([&] { be().dropout_forward(x.t(), y.t(), p, seed, stream, three.t()); }, "row_ids [3]");
  Host<std::int32_t> narrow(Shape{N});
  check_throws_with([&] { be().dropout_forward(x.t(), y.t(), p, seed, stream, narrow.t()); }, "row_ids must be int64");
  rows[2] = -1;
  check_throws_with([&] { be().dropout_forward(x.t(), y.t(), p, seed, stream, rows.t()); }, "row_ids[2] = -1");
  rows[2] = INT64_MAX / K;  // its last counter would pass 2^63 - 1
  check_throws_with([&] { be().dropout_backward(dy.t(), dx.t(), p, seed, stream, rows.t()); },
                    "dropout_backward: row_ids[2]");
}

// ---- layernorm ----------------------------------------------------------------------------------
namespace {

struct LnRef {
  std::vector<double> y, mean, rstd;
};

LnRef ref_layernorm(const std::vector<double>& x, const std::vector<double>& g, const std::vector<double>& b,
                    std::int64_t rows, std::int64_t cols, double eps) {
  LnRef out{std::vector<double>(x.size()), std::vector<double>(rows), std::vector<double>(rows)};
  for (std::int64_t r = 0; r < rows; ++r) {
    double mu = 0, var = 0;
    for (std::int64_t c = 0; c < cols; ++c) mu += x[r * cols + c];
    mu /= double(cols);
    for (std::int64_t c = 0; c < cols; ++c) var += (x[r * cols + c] - mu) * (x[r * cols + c] - mu);
    var /= double(cols);
    const double rs = 1.0 / std::sqrt(var + eps);
    out.mean[r] = mu;
    out.rstd[r] = rs;
    for (std::int64_t c = 0; c < cols; ++c) out.y[r * cols + c] = (x[r * cols + c] - mu) * rs * g[c] + b[c];
  }
  return out;
}

}  // namespace

TEST_CASE_TEMPLATE("layernorm forward and backward against the naive formulas", T, float, double) {
  const double eps = 1e-5;
  for (const auto& [rows, cols] : {std::pair<std::int64_t, std::int64_t>{9, 13}, {300, 70}, {2, 1}}) {
    const auto rows_ = rows;  // CAPTURE's lambda cannot capture a structured binding (clang 14)
    CAPTURE(rows_);
    const auto cols_ = cols;  // CAPTURE's lambda cannot capture a structured binding (clang 14)
    CAPTURE(cols_);
    auto x = rand_host<T>(Shape{rows, cols}, 1, -2.0, 3.0);
    auto gamma = rand_host<T>(Shape{cols}, 2, 0.5, 1.5);
    auto beta = rand_host<T>(Shape{cols}, 3);
    Host<T> y(Shape{rows, cols}), mean(Shape{rows}), rstd(Shape{rows});
    be().layernorm_forward(x.t(), gamma.t(), beta.t(), y.t(), mean.t(), rstd.t(), eps);
    const auto ref = ref_layernorm(to_double(x), to_double(gamma), to_double(beta), rows, cols, eps);
    check_close(y.v, ref.y, tol<T>(1e-5, 1e-12), tol<T>(1e-5, 1e-12), "y");
    check_close(mean.v, ref.mean, tol<T>(1e-6, 1e-14), tol<T>(1e-6, 1e-14), "mean");
    check_close(rstd.v, ref.rstd, tol<T>(1e-6, 1e-12), tol<T>(1e-6, 1e-12), "rstd");

    auto dy = rand_host<T>(Shape{rows, cols}, 4);
    auto dgamma = rand_host<T>(Shape{cols}, 5);  // accumulated into
    auto dbeta = rand_host<T>(Shape{cols}, 6);
    Host<T> dx(Shape{rows, cols});
    std::vector<double> ref_dx(x.v.size()), ref_dg = to_double(dgamma), ref_db = to_double(dbeta);
    for (std::int64_t r = 0; r < rows; ++r) {
      double mg = 0, mgx = 0;
      for (std::int64_t c = 0; c < cols; ++c) {
        const std::int64_t i = r * cols + c;
        const double xhat = (double(x[i]) - ref.mean[r]) * ref.rstd[r], g = double(dy[i]) * double(gamma[c]);
        mg += g / double(cols);
        mgx += g * xhat / double(cols);
        ref_dg[c] += double(dy[i]) * xhat;
        ref_db[c] += double(dy[i]);
      }
      for (std::int64_t c = 0; c < cols; ++c) {
        const std::int64_t i = r * cols + c;
        const double xhat = (double(x[i]) - ref.mean[r]) * ref.rstd[r], g = double(dy[i]) * double(gamma[c]);
        ref_dx[i] = ref.rstd[r] * (g - mg - xhat * mgx);
      }
    }
    be().layernorm_backward(x.t(), gamma.t(), mean.t(), rstd.t(), dy.t(), dx.t(), dgamma.t(), dbeta.t());
    check_close(dx.v, ref_dx, tol<T>(1e-4, 1e-10), tol<T>(2e-5, 1e-10), "dx");
    check_close(dgamma.v, ref_dg, tol<T>(1e-5, 1e-11), tol<T>(1e-4, 1e-11), "dgamma");
    check_close(dbeta.v, ref_db, tol<T>(1e-5, 1e-12), tol<T>(1e-5, 1e-12), "dbeta");
  }
  Host<T> x(Shape{4, 5}), g(Shape{4}), b(Shape{5}), y(Shape{4, 5}), m(Shape{4}), r(Shape{4});
  check_throws_with([&] { be().layernorm_forward(x.t(), g.t(), b.t(), y.t(), m.t(), r.t(), 1e-5); },
                    "layernorm_forward: gamma [4] has 4 elements, expected 5");
}

TEST_CASE("layernorm backward matches finite differences (float64)") {
  const std::int64_t rows = 3, cols = 7;
  const double eps = 1e-5, h = 1e-6;
  auto x = rand_host<double>(Shape{rows, cols}, 11, -2.0, 2.0);
  auto gamma = rand_host<double>(Shape{cols}, 12, 0.5, 1.5);
  auto beta = rand_host<double>(Shape{cols}, 13);
  auto w = rand_host<double>(Shape{rows, cols}, 14);  // L = sum(w * y), so dL/dy = w
  const auto loss = [&](Host<double>& xx, Host<double>& gg, Host<double>& bb) {
    Host<double> y(Shape{rows, cols}), m(Shape{rows}), r(Shape{rows});
    be().layernorm_forward(xx.t(), gg.t(), bb.t(), y.t(), m.t(), r.t(), eps);
    double l = 0;
    for (std::int64_t i = 0; i < rows * cols; ++i) l += w[i] * y[i];
    return l;
  };
  Host<double> y(Shape{rows, cols}), mean(Shape{rows}), rstd(Shape{rows}), dx(Shape{rows, cols});
  Host<double> dgamma(Shape{cols}), dbeta(Shape{cols});
  be().layernorm_forward(x.t(), gamma.t(), beta.t(), y.t(), mean.t(), rstd.t(), eps);
  be().layernorm_backward(x.t(), gamma.t(), mean.t(), rstd.t(), w.t(), dx.t(), dgamma.t(), dbeta.t());
  const auto fd = [&](Host<double>& target) {
    std::vector<double> out(target.v.size());
    for (std::size_t i = 0; i < target.v.size(); ++i) {
      const double keep = target.v[i];
      target.v[i] = keep + h;
      const double lp = loss(x, gamma, beta);
      target.v[i] = keep - h;
      const double lm = loss(x, gamma, beta);
      target.v[i] = keep;
      out[i] = (lp - lm) / (2 * h);
    }
    return out;
  };
  check_close(dx.v, fd(x), 1e-6, 1e-7, "dx");
  check_close(dgamma.v, fd(gamma), 1e-6, 1e-7, "dgamma");
  check_close(dbeta.v, fd(beta), 1e-6, 1e-7, "dbeta");
}

// ---- softmax ------------------------------------------------------------------------------------
TEST_CASE_TEMPLATE("softmax forward and backward", T, float, double) {
  for (const auto& [rows, cols] : {std::pair<std::int64_t, std::int64_t>{6, 11}, {500, 40}}) {
    auto x = rand_host<T>(Shape{rows, cols}, 1, -4.0, 4.0);
    for (std::int64_t c = 0; c < cols; ++c) x[c] += T(1000);  // row 0: exp would overflow without the max
    std::vector<double> ref(x.v.size());
    for (std::int64_t r = 0; r < rows; ++r) {
      double mx = -1e300, s = 0;
      for (std::int64_t c = 0; c < cols; ++c) mx = std::max(mx, double(x[r * cols + c]));
      for (std::int64_t c = 0; c < cols; ++c) s += std::exp(double(x[r * cols + c]) - mx);
      for (std::int64_t c = 0; c < cols; ++c) ref[r * cols + c] = std::exp(double(x[r * cols + c]) - mx) / s;
    }
    Host<T> y(Shape{rows, cols});
    be().softmax_forward(x.t(), y.t());
    check_close(y.v, ref, tol<T>(1e-5, 1e-13), tol<T>(1e-7, 1e-15), "softmax");
    Host<T> inplace = x;
    be().softmax_forward(inplace.t(), inplace.t());
    CHECK(same_bits(inplace.v, y.v));

    auto dy = rand_host<T>(Shape{rows, cols}, 2);
    std::vector<double> ref_dx(x.v.size());
    for (std::int64_t r = 0; r < rows; ++r) {
      double dot = 0;
      for (std::int64_t c = 0; c < cols; ++c) dot += double(dy[r * cols + c]) * double(y[r * cols + c]);
      for (std::int64_t c = 0; c < cols; ++c)
        ref_dx[r * cols + c] = double(y[r * cols + c]) * (double(dy[r * cols + c]) - dot);
    }
    Host<T> dx(Shape{rows, cols});
    be().softmax_backward(y.t(), dy.t(), dx.t());
    check_close(dx.v, ref_dx, tol<T>(1e-5, 1e-13), tol<T>(1e-7, 1e-15), "softmax backward");
  }
}

TEST_CASE("softmax backward matches finite differences (float64)") {
  const std::int64_t rows = 3, cols = 5;
  const double h = 1e-6;
  auto x = rand_host<double>(Shape{rows, cols}, 21, -2.0, 2.0);
  auto w = rand_host<double>(Shape{rows, cols}, 22);
  const auto loss = [&] {
    Host<double> y(Shape{rows, cols});
    be().softmax_forward(x.t(), y.t());
    double l = 0;
    for (std::int64_t i = 0; i < rows * cols; ++i) l += w[i] * y[i];
    return l;
  };
  Host<double> y(Shape{rows, cols}), dx(Shape{rows, cols});
  be().softmax_forward(x.t(), y.t());
  be().softmax_backward(y.t(), w.t(), dx.t());
  std::vector<double> fd(x.v.size());
  for (std::size_t i = 0; i < fd.size(); ++i) {
    const double keep = x.v[i];
    x.v[i] = keep + h;
    const double lp = loss();
    x.v[i] = keep - h;
    const double lm = loss();
    x.v[i] = keep;
    fd[i] = (lp - lm) / (2 * h);
  }
  check_close(dx.v, fd, 1e-6, 1e-8, "softmax dx");
}

// ---- losses -------------------------------------------------------------------------------------
namespace {

enum class LossKind { mse, gaussian, bce, ce };

struct LossCase {
  LossKind kind;
  std::int64_t rows, tcols;  // target columns (classes for ce)
};

std::int64_t pred_cols(const LossCase& lc) { return lc.kind == LossKind::gaussian ? 2 * lc.tcols : lc.tcols; }

// The naive loss sum and d(sum)/d(pred), written from the textbook forms (not the stable ones).
std::pair<double, std::vector<double>> ref_loss(const LossCase& lc, const std::vector<double>& p,
                                                const std::vector<double>& t, const std::vector<int>& labels) {
  const std::int64_t pc = pred_cols(lc), tc = lc.tcols;
  double sum = 0;
  std::vector<double> d(p.size());
  for (std::int64_t r = 0; r < lc.rows; ++r) {
    if (lc.kind == LossKind::ce) {
      double z = 0;
      for (std::int64_t c = 0; c < pc; ++c) z += std::exp(p[r * pc + c]);
      sum += std::log(z) - p[r * pc + labels[r]];
      for (std::int64_t c = 0; c < pc; ++c) d[r * pc + c] = std::exp(p[r * pc + c]) / z - (c == labels[r] ? 1 : 0);
      continue;
    }
    for (std::int64_t c = 0; c < tc; ++c) {
      const double tv = t[r * tc + c];
      switch (lc.kind) {
        case LossKind::mse: {
          const double e = p[r * pc + c] - tv;
          sum += e * e;
          d[r * pc + c] = 2 * e;
          break;
        }
        case LossKind::gaussian: {
          const double m = p[r * pc + c], s = p[r * pc + tc + c], var = std::exp(s);
          sum += 0.5 * (std::log(var) + (tv - m) * (tv - m) / var);
          d[r * pc + c] = (m - tv) / var;
          d[r * pc + tc + c] = 0.5 - 0.5 * (tv - m) * (tv - m) / var;
          break;
        }
        case LossKind::bce: {
          const double z = p[r * pc + c], sg = 1 / (1 + std::exp(-z));
          sum += -(tv * std::log(sg) + (1 - tv) * std::log(1 - sg));
          d[r * pc + c] = sg - tv;
          break;
        }
        case LossKind::ce: break;
      }
    }
  }
  return {sum, d};
}

// What a loss added to its accumulator.
struct LossSum {
  double sum, count;
};

// Runs f(acc) on a fresh accumulator {0, 0}.
template <class F>
LossSum accumulated(F&& f) {
  Host<double> acc(Shape{2}, 0.0);
  f(acc.t());
  return {acc[0], acc[1]};
}

template <class T>
LossSum run_loss(Backend& b, LossKind kind, Host<T>& pred, Host<T>& target, Host<std::int32_t>& labels,
                 const Tensor& dpred, double grad_scale, LossArgs args = {}) {
  args.grad_scale = grad_scale;
  return accumulated([&](const Tensor& acc) {
    switch (kind) {
      case LossKind::mse: b.mse_loss(pred.t(), target.t(), dpred, args, acc); return;
      case LossKind::gaussian: b.gaussian_nll_loss(pred.t(), target.t(), dpred, args, acc); return;
      case LossKind::bce: b.bce_logits_loss(pred.t(), target.t(), dpred, args, acc); return;
      case LossKind::ce: b.softmax_ce_loss(pred.t(), labels.t(), dpred, args, acc); return;
    }
  });
}

const char* loss_name(LossKind k) {
  switch (k) {
    case LossKind::mse: return "mse";
    case LossKind::gaussian: return "gaussian_nll";
    case LossKind::bce: return "bce_logits";
    case LossKind::ce: return "softmax_ce";
  }
  return "?";
}

template <class T>
struct LossInputs {
  Host<T> pred, target;
  Host<std::int32_t> labels;
  LossInputs(const LossCase& lc, std::uint64_t seed)
      : pred(rand_host<T>(Shape{lc.rows, pred_cols(lc)}, seed, -3.0, 3.0)),
        target(rand_host<T>(Shape{lc.rows, lc.tcols}, seed + 1, lc.kind == LossKind::bce ? 0.0 : -2.0, 1.0)),
        labels(Shape{lc.rows}) {
    for (std::int64_t r = 0; r < lc.rows; ++r) labels[r] = static_cast<std::int32_t>((r * 5 + 3) % lc.tcols);
  }
};

const LossKind kAllLosses[] = {LossKind::mse, LossKind::gaussian, LossKind::bce, LossKind::ce};

}  // namespace

TEST_CASE_TEMPLATE("losses: values and gradients against naive formulas", T, float, double) {
  const double grad_scale = 0.25;
  for (const LossKind kind : kAllLosses)
    for (const std::int64_t rows : {std::int64_t{7}, std::int64_t{3000}}) {
      CAPTURE(loss_name(kind));
      CAPTURE(rows);
      const LossCase lc{kind, rows, 3};
      LossInputs<T> in(lc, 100 + rows);
      std::vector<int> labels(in.labels.v.begin(), in.labels.v.end());
      const auto [ref_sum, ref_grad] = ref_loss(lc, to_double(in.pred), to_double(in.target), labels);
      Host<T> dpred(in.pred.shape, T(99));
      const LossSum got = run_loss<T>(be(), kind, in.pred, in.target, in.labels, dpred.t(), grad_scale);
      const double sum = got.sum;
      check_close_scalar(sum, ref_sum, tol<T>(1e-6, 1e-12), 1e-9, "loss sum");
      CHECK(got.count == double(kind == LossKind::ce ? rows : rows * lc.tcols));
      std::vector<double> scaled(ref_grad.size());
      for (std::size_t i = 0; i < scaled.size(); ++i) scaled[i] = grad_scale * ref_grad[i];
      check_close(dpred.v, scaled, tol<T>(1e-5, 1e-12), tol<T>(1e-6, 1e-14), "dpred");

      // No dpred: same sum, nothing written.
      CHECK(run_loss<T>(be(), kind, in.pred, in.target, in.labels, Tensor{}, grad_scale).sum == sum);
      const Tensor no_data(nullptr, in.pred.shape, hpct::dtype_of<T>());
      CHECK(run_loss<T>(be(), kind, in.pred, in.target, in.labels, no_data, grad_scale).sum == sum);
    }
}

TEST_CASE_TEMPLATE("losses stay finite and exact for extreme logits", T, float, double) {
  // bce: z = +-40 (t in {0, 1}); the naive log(sigmoid) form would lose everything here.
  Host<T> z(Shape{1, 4}), t(Shape{1, 4}), dz(Shape{1, 4});
  z[0] = T(40), z[1] = T(-40), z[2] = T(40), z[3] = T(-40);
  t[0] = T(1), t[1] = T(0), t[2] = T(0), t[3] = T(1);
  const double l = accumulated([&](const Tensor& acc) { be().bce_logits_loss(z.t(), t.t(), dz.t(), {}, acc); }).sum;
  const double tiny = std::log1p(std::exp(-40.0));
  check_close_scalar(l, 2 * tiny + 80, 1e-12, 0, "bce extreme");
  CHECK(double(dz[0]) == doctest::Approx(-std::exp(-40.0) / (1 + std::exp(-40.0))).epsilon(1e-5));
  CHECK(double(dz[2]) == doctest::Approx(1.0).epsilon(1e-6));
  CHECK(double(dz[3]) == doctest::Approx(-1.0).epsilon(1e-6));

  // softmax_ce with logits near 1000: logsumexp needs the max subtracted.
  Host<T> logits(Shape{2, 3}), dl(Shape{2, 3});
  const double zs[] = {1000, 1001, 999, -1000, -1002, -1000.5};
  for (int i = 0; i < 6; ++i) logits[i] = static_cast<T>(zs[i]);
  Host<std::int32_t> labels(Shape{2});
  labels[0] = 2, labels[1] = 0;
  const double ce = accumulated([&](const Tensor& acc) { be().softmax_ce_loss(logits.t(), labels.t(), dl.t(), {}, acc); }).sum;
  const double ref = (1 + std::log(1 + std::exp(-1.0) + std::exp(-2.0)) - (-1.0)) +
                     (-1000 + std::log(1 + std::exp(-2.0) + std::exp(-0.5)) - (-1000.0));
  check_close_scalar(ce, ref, tol<T>(1e-6, 1e-12), 1e-12, "ce extreme");
  CHECK(std::all_of(dl.v.begin(), dl.v.end(), [](T v) { return std::isfinite(v); }));
}

TEST_CASE("loss gradients match finite differences (float64)") {
  const double grad_scale = 0.5, h = 1e-6;
  for (const LossKind kind : kAllLosses) {
    CAPTURE(loss_name(kind));
    const LossCase lc{kind, 4, 3};
    LossInputs<double> in(lc, 7);
    Host<double> dpred(in.pred.shape);
    run_loss<double>(be(), kind, in.pred, in.target, in.labels, dpred.t(), grad_scale);
    std::vector<double> fd(dpred.v.size());
    for (std::size_t i = 0; i < fd.size(); ++i) {
      const double keep = in.pred.v[i];
      in.pred.v[i] = keep + h;
      const double lp = run_loss<double>(be(), kind, in.pred, in.target, in.labels, Tensor{}, 1.0).sum;
      in.pred.v[i] = keep - h;
      const double lm = run_loss<double>(be(), kind, in.pred, in.target, in.labels, Tensor{}, 1.0).sum;
      in.pred.v[i] = keep;
      fd[i] = grad_scale * (lp - lm) / (2 * h);
    }
    check_close(dpred.v, fd, 1e-6, 1e-8, "dpred vs finite differences");
  }
}

// Per-token cross-entropy: rows labelled kIgnoreLabel add nothing and get zero gradient; the others are
// the naive logsumexp(z) - z[label], softmax - onehot (in double).
TEST_CASE_TEMPLATE("softmax_ce_loss skips kIgnoreLabel rows, against a naive reference", T, float, double) {
  const std::int64_t rows = 7, classes = 5;
  Host<T> logits = rand_host<T>(Shape{rows, 1, classes}, 31, -3.0, 3.0);  // any leading dims: [N, L, C]
  Host<std::int32_t> labels(Shape{rows, 1});
  for (std::int64_t r = 0; r < rows; ++r) labels[r] = r % 3 == 1 ? kIgnoreLabel : static_cast<std::int32_t>(r % classes);
  Host<T> d(logits.shape, T(7));
  LossArgs args;
  args.grad_scale = 0.25;
  const double grad_scale = args.grad_scale;
  const LossSum got = accumulated([&](const Tensor& acc) { be().softmax_ce_loss(logits.t(), labels.t(), d.t(), args, acc); });
  const double sum = got.sum;
  CHECK(got.count == 5.0);  // rows 1 and 4 of 7 are ignored
  double want = 0.0;
  std::vector<double> want_d(static_cast<std::size_t>(rows * classes), 0.0);
  for (std::int64_t r = 0; r < rows; ++r) {
    if (labels[r] == kIgnoreLabel) continue;
    double mx = -1e300, se = 0.0;
    for (std::int64_t c = 0; c < classes; ++c) mx = std::max(mx, double(logits[r * classes + c]));
    for (std::int64_t c = 0; c < classes; ++c) se += std::exp(double(logits[r * classes + c]) - mx);
    const double lse = mx + std::log(se);
    want += lse - double(logits[r * classes + labels[r]]);
    for (std::int64_t c = 0; c < classes; ++c)
      want_d[r * classes + c] = grad_scale * (std::exp(double(logits[r * classes + c]) - lse) - (c == labels[r]));
  }
  check_close_scalar(sum, want, tol<T>(1e-6, 1e-12), 0.0, "sum over labelled rows");
  check_close(d.v, want_d, tol<T>(1e-5, 1e-12), tol<T>(1e-7, 1e-15), "dlogits (ignored rows zero)");
  for (std::int64_t r = 1; r < rows; r += 3)
    for (std::int64_t c = 0; c < classes; ++c) CHECK(d[r * classes + c] == T(0));
}

TEST_CASE_TEMPLATE("loss argument errors", T, float, double) {
  Host<T> p(Shape{4, 3}), t2(Shape{4, 2}), t3(Shape{4, 3}), d_wrong(Shape{3, 4});
  Host<double> acc(Shape{2});
  const Tensor a = acc.t();
  check_throws_with([&] { be().mse_loss(p.t(), t2.t(), Tensor{}, {}, a); }, "mse_loss: pred is [4, 3] but target is [4, 2]");
  check_throws_with([&] { be().gaussian_nll_loss(p.t(), t2.t(), Tensor{}, {}, a); }, "gaussian_nll_loss: pred is [4, 3]");
  check_throws_with([&] { be().bce_logits_loss(p.t(), t3.t(), d_wrong.t(), {}, a); }, "bce_logits_loss: shapes differ");
  Host<std::int32_t> labels(Shape{4});
  labels[0] = 0, labels[1] = 1, labels[2] = 5, labels[3] = 2;
  check_throws_with([&] { be().softmax_ce_loss(p.t(), labels.t(), Tensor{}, {}, a); },
                    "softmax_ce_loss: label 5 of row 2 is out of range [0, 3)");
  labels[2] = -2;  // -1 is kIgnoreLabel; other negative labels are errors
  check_throws_with([&] { be().softmax_ce_loss(p.t(), labels.t(), Tensor{}, {}, a); }, "label -2 of row 2");
  Host<T> flabels(Shape{4});
  check_throws_with([&] { be().softmax_ce_loss(p.t(), flabels.t(), Tensor{}, {}, a); }, "labels must be int32");
  Host<std::int32_t> short_labels(Shape{3});
  check_throws_with([&] { be().softmax_ce_loss(p.t(), short_labels.t(), Tensor{}, {}, a); }, "one per row");
  // The accumulator and the multiplier are f64 device scalars; lengths need [N, L, ...] and i32 [N].
  Host<float> acc32(Shape{2});
  check_throws_with([&] { be().mse_loss(p.t(), t3.t(), Tensor{}, {}, acc32.t()); }, "mse_loss: acc must be float64");
  Host<double> acc3(Shape{3});
  check_throws_with([&] { be().mse_loss(p.t(), t3.t(), Tensor{}, {}, acc3.t()); }, "mse_loss: acc [3] has 3 elements, expected 2");
  LossArgs args;
  args.grad_multiplier = acc.t();
  check_throws_with([&] { be().mse_loss(p.t(), t3.t(), Tensor{}, args, a); }, "grad_multiplier [2] has 2 elements, expected 1");
  args = {};
  Host<std::int32_t> lengths(Shape{4}, 1);
  args.lengths = lengths.t();
  check_throws_with([&] { be().mse_loss(p.t(), t3.t(), Tensor{}, args, a); }, "mse_loss: lengths need per-token pred and target [N, L, ...]");
  Host<T> p3(Shape{2, 2, 3}), t33(Shape{2, 2, 3});
  check_throws_with([&] { be().bce_logits_loss(p3.t(), t33.t(), Tensor{}, args, a); }, "bce_logits_loss: lengths [4] has 4 elements, expected 2");
  Host<std::int32_t> lengths2(Shape{2}, 1);
  lengths2[1] = 3;
  args.lengths = lengths2.t();
  check_throws_with([&] { be().bce_logits_loss(p3.t(), t33.t(), Tensor{}, args, a); }, "bce_logits_loss: lengths[1] = 3 is outside [1, 2]");
  Host<std::int64_t> lengths64(Shape{2}, 1);
  args.lengths = lengths64.t();
  check_throws_with([&] { be().bce_logits_loss(p3.t(), t33.t(), Tensor{}, args, a); }, "lengths must be int32, got int64");
}

// Per-token float losses on [N, L, T] with lengths: padding rows add nothing, count nothing and get
// zero gradients; mean divides the gradient by the count the kernel computes; grad_multiplier scales
// it; the accumulator adds to what it holds. Cross-entropy counts its labelled rows.
TEST_CASE_TEMPLATE("losses: lengths masking, mean, grad_multiplier and accumulation", T, float, double) {
  const std::int64_t batch = 3, len = 5, tcols = 2;
  Host<std::int32_t> lengths(Shape{batch});
  lengths.v = {5, 2, 1};
  const double grad_scale = 0.5, multiplier = 1024.0;
  Host<double> mult(Shape{1}, multiplier);
  for (const LossKind kind : kAllLosses)
    for (const bool mean : {false, true}) {
      CAPTURE(loss_name(kind));
      CAPTURE(mean);
      const LossCase lc{kind, batch * len, kind == LossKind::ce ? 4 : tcols};
      LossInputs<T> in(lc, 41);
      const std::int64_t pc = pred_cols(lc);
      Host<T> pred = in.pred, target = in.target;
      pred.shape = Shape{batch, len, pc};
      target.shape = Shape{batch, len, lc.tcols};
      // The reference: every counted row alone through ref_loss (ce: labels of padding rows ignored).
      const auto counted = [&](std::int64_t r) {
        return kind == LossKind::ce ? r % 3 != 1 : r % len < lengths[r / len];
      };
      if (kind == LossKind::ce)
        for (std::int64_t r = 0; r < lc.rows; ++r)
          if (!counted(r)) in.labels[r] = kIgnoreLabel;
      double want_sum = 0.0, want_count = 0.0;
      std::vector<double> want_d(pred.v.size(), 0.0);
      for (std::int64_t r = 0; r < lc.rows; ++r) {
        if (!counted(r)) continue;
        const LossCase one{kind, 1, lc.tcols};
        const std::vector<double> p(pred.v.begin() + r * pc, pred.v.begin() + (r + 1) * pc);
        const std::vector<double> t(target.v.begin() + r * lc.tcols, target.v.begin() + (r + 1) * lc.tcols);
        const auto [sum, d] = ref_loss(one, p, t, {in.labels[r]});
        want_sum += sum;
        want_count += kind == LossKind::ce ? 1.0 : double(lc.tcols);
        for (std::int64_t c = 0; c < pc; ++c) want_d[r * pc + c] = d[c];
      }
      const double factor = grad_scale * multiplier / (mean ? want_count : 1.0);
      for (double& d : want_d) d *= factor;
      LossArgs args;
      if (kind != LossKind::ce) args.lengths = lengths.t();
      args.mean = mean;
      args.grad_multiplier = mult.t();
      args.grad_scale = grad_scale;
      Host<T> dpred(pred.shape, T(7));
      Host<double> acc(Shape{2});
      acc.v = {10.0, 3.0};  // accumulated into
      switch (kind) {
        case LossKind::mse: be().mse_loss(pred.t(), target.t(), dpred.t(), args, acc.t()); break;
        case LossKind::gaussian: be().gaussian_nll_loss(pred.t(), target.t(), dpred.t(), args, acc.t()); break;
        case LossKind::bce: be().bce_logits_loss(pred.t(), target.t(), dpred.t(), args, acc.t()); break;
        case LossKind::ce: be().softmax_ce_loss(pred.t(), in.labels.t(), dpred.t(), args, acc.t()); break;
      }
      check_close_scalar(acc[0], 10.0 + want_sum, tol<T>(1e-6, 1e-12), 1e-9, "sum");
      CHECK(acc[1] == 3.0 + want_count);
      check_close(dpred.v, want_d, tol<T>(1e-5, 1e-12), tol<T>(1e-6, 1e-14) * factor, "dpred");
      for (std::int64_t r = 0; r < lc.rows; ++r)
        if (!counted(r))
          for (std::int64_t c = 0; c < pc; ++c) CHECK(dpred[r * pc + c] == T(0));
    }
  // Nothing counted (every label ignored) with mean: no division by zero, zero gradients.
  Host<T> logits = rand_host<T>(Shape{3, 4}, 5);
  Host<std::int32_t> none(Shape{3}, kIgnoreLabel);
  Host<T> d(Shape{3, 4}, T(7));
  LossArgs args;
  args.mean = true;
  const LossSum got = accumulated([&](const Tensor& acc) { be().softmax_ce_loss(logits.t(), none.t(), d.t(), args, acc); });
  CHECK(got.sum == 0.0);
  CHECK(got.count == 0.0);
  CHECK(std::all_of(d.v.begin(), d.v.end(), [](T x) { return x == T(0); }));
}

// ---- optimizers ---------------------------------------------------------------------------------
namespace {

// torch.optim.AdamW, written from its documentation.
void ref_adamw(std::vector<double>& p, const std::vector<double>& g, std::vector<double>& m, std::vector<double>& v,
               const AdamWParams& hp, std::int64_t step) {
  for (std::size_t i = 0; i < p.size(); ++i) {
    p[i] -= hp.lr * hp.weight_decay * p[i];
    m[i] = hp.beta1 * m[i] + (1 - hp.beta1) * g[i];
    v[i] = hp.beta2 * v[i] + (1 - hp.beta2) * g[i] * g[i];
    const double mhat = m[i] / (1 - std::pow(hp.beta1, double(step)));
    const double vhat = v[i] / (1 - std::pow(hp.beta2, double(step)));
    p[i] -= hp.lr * mhat / (std::sqrt(vhat) + hp.eps);
  }
}

// torch.optim.SGD with dampening 0.
void ref_sgd(std::vector<double>& p, const std::vector<double>& grad, std::vector<double>& buf, const SgdParams& hp,
             bool first_step) {
  for (std::size_t i = 0; i < p.size(); ++i) {
    double g = grad[i] + hp.weight_decay * p[i];
    if (hp.momentum != 0) {
      buf[i] = first_step ? g : hp.momentum * buf[i] + g;
      g = hp.nesterov ? g + hp.momentum * buf[i] : buf[i];
    }
    p[i] -= hp.lr * g;
  }
}

// A step's control scalars (StepControl) as step_control leaves them: the multiplier, skip, the step count.
Host<double> control(std::int64_t step, double multiplier = 1.0, bool skip = false) {
  Host<double> c(Shape{StepControl::kSize}, 0.0);
  c[StepControl::kMultiplier] = multiplier;
  c[StepControl::kSkip] = skip ? 1.0 : 0.0;
  c[StepControl::kStep] = double(step);
  return c;
}

const double kTorchGrads[3][4] = {{0.1, -0.2, 0.3, 0.0}, {-0.05, 0.4, 0.0, 1.0}, {0.2, 0.2, -0.7, -1.0}};
const double kTorchStart[4] = {0.5, -1.0, 2.0, 0.0};

}  // namespace

TEST_CASE_TEMPLATE("adamw_step against the torch.optim.AdamW formulas", T, float, double) {
  const std::int64_t n = 50'003;  // several parallel blocks
  auto p = rand_host<T>(Shape{n}, 1);
  Host<T> m(Shape{n}), v(Shape{n});
  std::vector<double> rp = to_double(p), rm(n, 0.0), rv(n, 0.0);
  AdamWParams hp;
  hp.lr = 0.01;
  hp.weight_decay = 0.1;
  for (std::int64_t step = 1; step <= 3; ++step) {
    auto g = rand_host<T>(Shape{n}, 10 + step);
    ref_adamw(rp, to_double(g), rm, rv, hp, step);
    be().adamw_step(p.t(), Tensor{}, g.t(), m.t(), v.t(), hp, control(step).t());
  }
  check_close(p.v, rp, tol<T>(1e-6, 1e-13), tol<T>(1e-6, 1e-13), "params");
  check_close(m.v, rm, tol<T>(1e-6, 1e-13), tol<T>(1e-7, 1e-15), "m");
  check_close(v.v, rv, tol<T>(1e-5, 1e-13), tol<T>(1e-9, 1e-16), "v");

  // Numbers printed by torch.optim.AdamW(lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1), float64.
  const std::vector<double> torch_out = {0.29496099115834751, -0.96045733271670186, 1.8145914981404663,
                                         -0.069151320569156904};
  Host<T> tp(Shape{4}), tm(Shape{4}), tv(Shape{4});
  for (int i = 0; i < 4; ++i) tp[i] = static_cast<T>(kTorchStart[i]);
  AdamWParams th;
  th.lr = 0.1;
  th.weight_decay = 0.1;
  for (int s = 0; s < 3; ++s) {
    Host<T> g(Shape{4});
    for (int i = 0; i < 4; ++i) g[i] = static_cast<T>(kTorchGrads[s][i]);
    be().adamw_step(tp.t(), Tensor{}, g.t(), tm.t(), tv.t(), th, control(s + 1).t());
  }
  check_close(tp.v, torch_out, tol<T>(1e-6, 1e-13), tol<T>(1e-6, 1e-13), "vs torch");

  Host<T> short_m(Shape{n - 1});
  check_throws_with([&] { be().adamw_step(p.t(), Tensor{}, p.t(), short_m.t(), v.t(), hp, control(1).t()); },
                    "adamw_step: sizes differ");
  check_throws_with([&] { be().adamw_step(p.t(), Tensor{}, p.t(), m.t(), v.t(), hp, control(0).t()); }, "1-based");
  check_throws_with([&] { be().adamw_step(p.t(), p.t(), p.t(), m.t(), v.t(), hp, control(1).t()); },
                    "adamw_step: master must be empty for");
  Host<double> short_control(Shape{3});
  check_throws_with([&] { be().adamw_step(p.t(), Tensor{}, p.t(), m.t(), v.t(), hp, short_control.t()); },
                    "adamw_step: control [3] has 3 elements, expected 4");
}

TEST_CASE_TEMPLATE("sgd_step: plain, momentum, nesterov, weight decay", T, float, double) {
  struct Variant {
    const char* name;
    double momentum, wd;
    bool nesterov;
    std::vector<double> torch_out;  // torch.optim.SGD(lr=0.1, ...) after the 3 kTorchGrads steps
  };
  const Variant variants[] = {
      {"plain", 0.0, 0.01, false, {0.47351648950000003, -1.0370029790000002, 2.0340659680000002, 9.9999999999988987e-05}},
      {"momentum", 0.9, 0.01, false, {0.45963038950000001, -1.0362307789999998, 1.9776035680000001, -0.089900000000000022}},
      {"nesterov", 0.9, 0.01, true, {0.43722731198049997, -1.0696463239610001, 2.0140685365120001, -0.080639000000000002}},
  };
  for (const Variant& var : variants) {
    CAPTURE(var.name);
    SgdParams hp;
    hp.lr = 0.1;
    hp.momentum = var.momentum;
    hp.weight_decay = var.wd;
    hp.nesterov = var.nesterov;

    const std::int64_t n = 40'001;
    auto p = rand_host<T>(Shape{n}, 1);
    auto buf = rand_host<T>(Shape{n}, 2);  // garbage: the first step must overwrite it
    std::vector<double> rp = to_double(p), rb(n, 0.0);
    for (int step = 0; step < 3; ++step) {
      auto g = rand_host<T>(Shape{n}, 20 + step);
      ref_sgd(rp, to_double(g), rb, hp, step == 0);
      be().sgd_step(p.t(), Tensor{}, g.t(), var.momentum > 0 ? buf.t() : Tensor{}, hp, control(step + 1).t());
    }
    check_close(p.v, rp, tol<T>(1e-6, 1e-14), tol<T>(1e-6, 1e-14), "params");
    if (var.momentum > 0) check_close(buf.v, rb, tol<T>(1e-6, 1e-14), tol<T>(1e-6, 1e-14), "momentum buffer");

    Host<T> tp(Shape{4}), tb(Shape{4}, T(123));
    for (int i = 0; i < 4; ++i) tp[i] = static_cast<T>(kTorchStart[i]);
    for (int s = 0; s < 3; ++s) {
      Host<T> g(Shape{4});
      for (int i = 0; i < 4; ++i) g[i] = static_cast<T>(kTorchGrads[s][i]);
      be().sgd_step(tp.t(), Tensor{}, g.t(), tb.t(), hp, control(s + 1).t());
    }
    check_close(tp.v, var.torch_out, tol<T>(1e-6, 1e-14), tol<T>(1e-6, 1e-14), "vs torch");
  }
  Host<T> p(Shape{5}), g(Shape{5});
  SgdParams hp;
  hp.momentum = 0.9;
  Host<double> ctl = control(1);
  const Tensor c = ctl.t();
  check_throws_with([&] { be().sgd_step(p.t(), Tensor{}, g.t(), Tensor{}, hp, c); },
                    "sgd_step: momentum 0.9 needs a momentum buffer");
  Host<T> short_buf(Shape{4});
  check_throws_with([&] { be().sgd_step(p.t(), Tensor{}, g.t(), short_buf.t(), hp, c); }, "sgd_step: sizes differ");
  hp.momentum = 0.0;
  hp.nesterov = true;
  check_throws_with([&] { be().sgd_step(p.t(), Tensor{}, g.t(), Tensor{}, hp, c); }, "nesterov needs momentum");
}

// ---- determinism across thread counts -------------------------------------------------------------
TEST_CASE_TEMPLATE("every kernel gives the same bits on 1, 2 and 3 threads", T, float, double) {
  const std::unique_ptr<Backend> backends[] = {make_cpu_backend(1), make_cpu_backend(2), make_cpu_backend(3)};
  const std::int64_t rows = 4099, cols = 37;
  const auto x = rand_host<T>(Shape{rows, cols}, 1, -3.0, 3.0);
  const auto w = rand_host<T>(Shape{cols, 29}, 2);
  const auto gamma = rand_host<T>(Shape{cols}, 3);
  const auto beta = rand_host<T>(Shape{cols}, 4);
  const auto target = rand_host<T>(Shape{rows, cols}, 5, 0.0, 1.0);

  struct Result {
    std::vector<std::vector<T>> tensors;
    std::vector<double> scalars;
  };
  std::vector<Result> results;
  for (const auto& b : backends) {
    Result res;
    Host<T> xx = x, ww = w, gg = gamma, bb = beta, tt = target;
    Host<T> c(Shape{rows, 29});
    b->gemm(xx.t(), false, ww.t(), false, c.t());
    Host<T> dw(Shape{cols, 29});
    b->gemm(xx.t(), true, c.t(), false, dw.t());
    Host<T> db(Shape{cols});
    b->bias_grad(xx.t(), db.t());
    Host<T> act(Shape{rows, cols}), dact(Shape{rows, cols}), drop(Shape{rows, cols});
    b->activation_forward(Activation::gelu_tanh, xx.t(), act.t());
    b->activation_backward(Activation::silu, xx.t(), tt.t(), dact.t());
    b->dropout_forward(xx.t(), drop.t(), 0.25, 9, 3);
    Host<T> pre(Shape{rows, 29}), post(Shape{rows, 29}), dpre(Shape{rows, 29}), dbias(Shape{29});
    b->gemm_bias_act(xx.t(), false, ww.t(), false, db.t().flat_range(0, 29), Activation::gelu_exact, pre.t(), post.t());
    b->activation_bias_grad(Activation::gelu_exact, pre.t(), c.t(), dpre.t(), dbias.t());
    Host<T> y(Shape{rows, cols}), mean(Shape{rows}), rstd(Shape{rows}), dx(Shape{rows, cols});
    Host<T> dgamma(Shape{cols}), dbeta(Shape{cols});
    b->layernorm_forward(xx.t(), gg.t(), bb.t(), y.t(), mean.t(), rstd.t(), 1e-5);
    b->layernorm_backward(xx.t(), gg.t(), mean.t(), rstd.t(), tt.t(), dx.t(), dgamma.t(), dbeta.t());
    Host<T> sm(Shape{rows, cols}), dsm(Shape{rows, cols});
    b->softmax_forward(xx.t(), sm.t());
    b->softmax_backward(sm.t(), tt.t(), dsm.t());
    Host<T> d1(Shape{rows, cols}), d2(Shape{rows, cols}), d3(Shape{rows, cols});
    Host<std::int32_t> labels(Shape{rows});
    for (std::int64_t r = 0; r < rows; ++r) labels[r] = static_cast<std::int32_t>(r % cols);
    LossArgs mean_args;
    mean_args.mean = true;
    Host<double> acc(Shape{2}, 0.0), sumsq(Shape{1});
    b->mse_loss(xx.t(), tt.t(), d1.t(), mean_args, acc.t());
    b->bce_logits_loss(xx.t(), tt.t(), d2.t(), mean_args, acc.t());
    b->softmax_ce_loss(xx.t(), labels.t(), d3.t(), mean_args, acc.t());
    res.scalars.push_back(acc[0]);
    Host<T> tgt_narrow(Shape{rows, 1});
    Host<T> pred2(Shape{rows, 2});
    for (std::int64_t r = 0; r < rows; ++r) pred2[2 * r] = xx[r * cols], pred2[2 * r + 1] = xx[r * cols + 1];
    Host<T> dg(Shape{rows, 2});
    b->gaussian_nll_loss(pred2.t(), tgt_narrow.t(), dg.t(), {}, acc.t());
    res.scalars.push_back(acc[0]);
    b->sum_squares(xx.t(), sumsq.t());
    res.scalars.push_back(sumsq[0]);
    Host<T> p = xx, m(Shape{rows, cols}), v(Shape{rows, cols});
    AdamWParams hp;
    b->adamw_step(p.t(), Tensor{}, tt.t(), m.t(), v.t(), hp, control(1).t());
    res.tensors = {c.v, dw.v, db.v, act.v, dact.v, drop.v, pre.v, post.v, dpre.v, dbias.v, y.v, mean.v, rstd.v, dx.v, dgamma.v, dbeta.v,
                   sm.v, dsm.v, d1.v, d2.v, d3.v, dg.v, p.v};
    results.push_back(std::move(res));
  }
  for (std::size_t k = 1; k < results.size(); ++k) {
    CAPTURE(k);
    for (std::size_t i = 0; i < results[0].tensors.size(); ++i) {
      CAPTURE(i);
      CHECK(same_bits(results[k].tensors[i], results[0].tensors[i]));
    }
    for (std::size_t i = 0; i < results[0].scalars.size(); ++i) {
      CAPTURE(i);
      CHECK(std::memcmp(&results[k].scalars[i], &results[0].scalars[i], sizeof(double)) == 0);
    }
  }
}

// ---- the CPU's vectorisable float exp / tanh / erf ---------------------------------------------------
TEST_CASE("fast float exp, tanh and erf stay within a few ulps of libm") {
  using namespace hpct::kernels::cpu;
  const auto worst = [](auto fast, auto exact, double lo, double hi, bool relative) {
    double w = 0.0;
    for (int i = 0; i <= 400'000; ++i) {
      const float x = static_cast<float>(lo + (hi - lo) * i / 400'000.0);
      const double ref = exact(static_cast<double>(x)), got = fast(x);
      const double err = relative ? std::abs(got - ref) / std::abs(ref) : std::abs(got - ref);
      if (!(err <= w)) w = err;
    }
    return w;
  };
  CHECK(worst(fast_exp, [](double x) { return std::exp(x); }, -87.3, 88.7, true) < 2e-7);
  CHECK(worst(fast_tanh, [](double x) { return std::tanh(x); }, -12.0, 12.0, true) < 2e-7);
  CHECK(worst(fast_tanh, [](double x) { return std::tanh(x); }, -1e-3, 1e-3, true) < 2e-7);
  CHECK(worst(fast_erf, [](double x) { return std::erf(x); }, -6.0, 6.0, false) < 5e-7);
  CHECK(worst(fast_erf, [](double x) { return std::erf(x); }, -1e-3, 1e-3, true) < 3e-7);
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  CHECK(fast_exp(-inf) == 0.0f);
  CHECK(fast_exp(-200.0f) == 0.0f);
  CHECK(fast_exp(inf) == inf);
  CHECK(fast_exp(89.0f) == inf);
  CHECK(fast_exp(0.0f) == 1.0f);
  CHECK(fast_tanh(inf) == 1.0f);
  CHECK(fast_tanh(-inf) == -1.0f);
  CHECK(fast_erf(-inf) == -1.0f);
  CHECK(fast_erf(5.0f) == 1.0f);
  CHECK(std::isnan(fast_exp(nan)));
  CHECK(std::isnan(fast_tanh(nan)));
  CHECK(std::isnan(fast_erf(nan)));
}

TEST_CASE_TEMPLATE("activations keep NaN and give the right limits at +-inf", T, float, double) {
  const T nan = std::numeric_limits<T>::quiet_NaN(), inf = std::numeric_limits<T>::infinity();
  for (const Activation f : kAllActivations) {
    CAPTURE(to_string(f));
    Host<T> x(Shape{3}), y(Shape{3}), g(Shape{3}, T(1)), dx(Shape{3});
    x[0] = nan, x[1] = inf, x[2] = T(-1000);
    be().activation_forward(f, x.t(), y.t());
    be().activation_backward(f, x.t(), g.t(), dx.t());
    CHECK(std::isnan(y[0]));  // a NaN must reach the finiteness check (sum_squares), never turn into a number
    if (f != Activation::relu && f != Activation::identity) CHECK(std::isnan(dx[0]));
    if (f != Activation::tanh) CHECK(y[1] == inf);
    CHECK(std::isfinite(y[2]));
    CHECK(std::isfinite(dx[2]));
    if (f != Activation::identity && f != Activation::tanh) CHECK(std::abs(double(y[2])) < 1e-30);
  }
}

TEST_CASE_TEMPLATE("gemm over many tiles gives the same bits on 1, 2 and 3 threads", T, float, double) {
  const std::int64_t m = 700, n = 600, k = 300;  // 3 x 3 tiles
  const std::unique_ptr<Backend> backends[] = {make_cpu_backend(1), make_cpu_backend(2), make_cpu_backend(3)};
  for (const bool ta : {false, true})
    for (const bool tb : {false, true}) {
      CAPTURE(ta);
      CAPTURE(tb);
      auto a = rand_host<T>(ta ? Shape{k, m} : Shape{m, k}, 1);
      auto b = rand_host<T>(tb ? Shape{n, k} : Shape{k, n}, 2);
      const auto c0 = rand_host<T>(Shape{m, n}, 3);
      std::vector<std::vector<T>> out;
      for (const auto& be_n : backends) {
        Host<T> c = c0;
        be_n->gemm(a.t(), ta, b.t(), tb, c.t(), 0.5, 0.25);
        out.push_back(c.v);
      }
      CHECK(same_bits(out[1], out[0]));
      CHECK(same_bits(out[2], out[0]));
      // Spot-check against the naive product on a few rows.
      std::vector<double> got, ref;
      for (const std::int64_t i : {std::int64_t{0}, std::int64_t{257}, m - 1})
        for (std::int64_t j = 0; j < n; j += 37) {
          double s = 0;
          for (std::int64_t l = 0; l < k; ++l)
            s += double(ta ? a[l * m + i] : a[i * k + l]) * double(tb ? b[j * k + l] : b[l * n + j]);
          ref.push_back(0.5 * s + 0.25 * double(c0[i * n + j]));
          got.push_back(double(out[0][i * n + j]));
        }
      check_close(got, ref, tol<T>(1e-5, 1e-12), tol<T>(1e-4, 1e-12), "gemm tiles");
    }
}

TEST_CASE_TEMPLATE("loss sums do not depend on whether the gradient is asked for (wide rows)", T, float, double) {
  for (const LossKind kind : kAllLosses) {
    CAPTURE(loss_name(kind));
    const LossCase lc{kind, 50, 67};  // rows long enough for vectorised inner loops
    LossInputs<T> in(lc, 3);
    Host<T> dpred(in.pred.shape);
    const double with_grad = run_loss<T>(be(), kind, in.pred, in.target, in.labels, dpred.t(), 0.5).sum;
    const double without = run_loss<T>(be(), kind, in.pred, in.target, in.labels, Tensor{}, 0.5).sum;
    CHECK(std::memcmp(&with_grad, &without, sizeof(double)) == 0);
    std::vector<int> labels(in.labels.v.begin(), in.labels.v.end());
    const auto ref = ref_loss(lc, to_double(in.pred), to_double(in.target), labels);
    check_close_scalar(with_grad, ref.first, tol<T>(1e-6, 1e-12), 1e-9, "wide loss sum");
  }
}

// ---- device scalars of a step -----------------------------------------------------------------------
namespace {

// step_control on host-built scalars; returns control after the call (which starts as `start`).
std::vector<double> run_step_control(const StepControlArgs& args, double count, std::optional<double> sumsq,
                                     std::optional<double> loss_scale, std::vector<double> start = {0, 0, 0, 0}) {
  Host<double> c(Shape{1}, count), ss(Shape{1}, sumsq.value_or(0)), ls(Shape{1}, loss_scale.value_or(1));
  Host<double> control(Shape{StepControl::kSize});
  control.v = start;
  be().step_control(args, c.t(), sumsq ? ss.t() : Tensor{}, loss_scale ? ls.t() : Tensor{}, control.t());
  return control.v;
}

}  // namespace

TEST_CASE("step_control: multiplier, gradient norm, clipping, skip on non-finite, step count") {
  using SC = StepControl;
  StepControlArgs args;
  args.numerator = 2.0;
  // multiplier = numerator / count / loss_scale; the norm is sqrt(sumsq) times it; the step counts.
  auto c = run_step_control(args, 8.0, 16.0, 4.0);
  CHECK(c[SC::kMultiplier] == 2.0 / 8.0 / 4.0);
  CHECK(c[SC::kSkip] == 0.0);
  CHECK(c[SC::kNorm] == 4.0 * (2.0 / 8.0 / 4.0));
  CHECK(c[SC::kStep] == 1.0);
  c = run_step_control(args, 8.0, std::nullopt, std::nullopt, c);  // no sumsq, no scale
  CHECK(c[SC::kMultiplier] == 0.25);
  CHECK(c[SC::kNorm] == 0.0);
  CHECK(c[SC::kStep] == 2.0);
  // count 0 (nothing counted this step): multiplier 0, no NaN; still a step.
  c = run_step_control(args, 0.0, 9.0, std::nullopt, c);
  CHECK(c[SC::kMultiplier] == 0.0);
  CHECK(c[SC::kNorm] == 0.0);
  CHECK(c[SC::kStep] == 3.0);
  // Clipping: norm 3 * 0.5 = 1.5 > max_norm 1: the multiplier is scaled by 1 / (1.5 + 1e-6) (torch).
  args = {};
  args.numerator = 1.0;
  args.max_norm = 1.0;
  c = run_step_control(args, 2.0, 9.0, std::nullopt);
  CHECK(c[SC::kNorm] == 1.5);
  CHECK(c[SC::kMultiplier] == doctest::Approx(0.5 / (1.5 + 1e-6)).epsilon(1e-15));
  args.max_norm = 2.0;  // under the bound: unchanged
  c = run_step_control(args, 2.0, 9.0, std::nullopt);
  CHECK(c[SC::kMultiplier] == 0.5);
  // Non-finite sumsq: skipped with check_finite (the step count stays), not without.
  args.check_finite = true;
  for (const double bad : {std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()}) {
    CAPTURE(bad);
    c = run_step_control(args, 2.0, bad, 1024.0, {1, 0, 5, 0});
    CHECK(c[SC::kSkip] == 1.0);
    CHECK(c[SC::kStep] == 5.0);
    c = run_step_control(args, 2.0, 1.0, 1024.0, c);  // the next finite step counts again
    CHECK(c[SC::kSkip] == 0.0);
    CHECK(c[SC::kStep] == 6.0);
  }
  args.check_finite = false;
  c = run_step_control(args, 2.0, std::numeric_limits<double>::infinity(), std::nullopt, {1, 0, 5, 0});
  CHECK(c[SC::kSkip] == 0.0);
  CHECK(c[SC::kStep] == 6.0);
  // Errors: clipping needs sumsq; the scalars are f64 of the right sizes.
  args.max_norm = 1.0;
  Host<double> count(Shape{1}, 1.0), control(Shape{StepControl::kSize});
  check_throws_with([&] { be().step_control(args, count.t(), Tensor{}, Tensor{}, control.t()); },
                    "step_control: clipping (max_norm 1) and the finiteness check need sumsq");
  Host<float> count32(Shape{1});
  check_throws_with([&] { be().step_control({}, count32.t(), Tensor{}, Tensor{}, control.t()); },
                    "step_control: count must be float64, got float32");
  check_throws_with([&] { be().step_control({}, count.t(), Tensor{}, Tensor{}, count.t()); },
                    "step_control: control [1] has 1 elements, expected 4");
  // count may be a view of a loss accumulator's count (element 1).
  Host<double> acc(Shape{2});
  acc.v = {123.0, 4.0};
  Host<double> ctl(Shape{StepControl::kSize}, 0.0);
  be().step_control({}, acc.t().flat_range(1, 1), Tensor{}, Tensor{}, ctl.t());
  CHECK(ctl[SC::kMultiplier] == 0.25);
}

TEST_CASE("update_loss_scale: backoff and records on skip, growth after the interval") {
  using SS = ScalerState;
  LossScaleArgs args;
  args.interval = 3;
  Host<double> state(Shape{SS::kSize});
  state.v = {1024.0, 0.0, 0.0, -1.0, -1.0, 0.0, 0.0};
  Host<double> good = control(7), skipped = control(7, 1.0, true);
  be().update_loss_scale(args, good.t(), state.t());
  be().update_loss_scale(args, good.t(), state.t());
  CHECK(state.v == std::vector<double>{1024.0, 2.0, 0.0, -1.0, -1.0, 0.0, 0.0});
  be().update_loss_scale(args, good.t(), state.t());  // third good step in a row: grows, count restarts
  CHECK(state.v == std::vector<double>{2048.0, 0.0, 0.0, -1.0, -1.0, 0.0, 0.0});
  be().update_loss_scale(args, good.t(), state.t());
  be().update_loss_scale(args, skipped.t(), state.t());  // backoff, good count restarts, the skip recorded
  CHECK(state.v == std::vector<double>{1024.0, 0.0, 1.0, 7.0, 7.0, 1.0, 1.0});
  skipped[StepControl::kStep] = 9.0;
  be().update_loss_scale(args, skipped.t(), state.t());
  CHECK(state.v == std::vector<double>{512.0, 0.0, 2.0, 9.0, 7.0, 2.0, 2.0});  // the first skip stays; 2 in a row
  for (int i = 0; i < 3; ++i) be().update_loss_scale(args, good.t(), state.t());
  CHECK(state[SS::kScale] == 1024.0);
  CHECK((state[SS::kStreak] == 0.0 && state[SS::kMaxStreak] == 2.0));  // a good step ends the run of skips
  // growth = backoff = 1: the scale stays 1, skips are still recorded (training without fp16).
  LossScaleArgs none{1.0, 1.0, 1};
  Host<double> plain(Shape{SS::kSize});
  plain.v = {1.0, 0.0, 0.0, -1.0, -1.0, 0.0, 0.0};
  be().update_loss_scale(none, skipped.t(), plain.t());
  be().update_loss_scale(none, good.t(), plain.t());
  CHECK(plain.v == std::vector<double>{1.0, 0.0, 1.0, 9.0, 9.0, 0.0, 1.0});
  args.backoff = 0.0;
  check_throws_with([&] { be().update_loss_scale(args, good.t(), state.t()); }, "update_loss_scale: growth 2 must be >= 1, backoff 0");
  Host<double> short_state(Shape{4});
  check_throws_with([&] { be().update_loss_scale(none, good.t(), short_state.t()); },
                    "update_loss_scale: state [4] has 4 elements, expected 7");
}

TEST_CASE_TEMPLATE("scale_by multiplies by a device scalar", T, float, double, hpct::bf16, hpct::f16) {
  auto x = rand_host<T>(Shape{1001}, 3);
  Host<double> factor(Shape{1}, -0.5);
  const auto before = to_double(x);
  be().scale_by(x.t(), factor.t());
  // Halving is exact in every float dtype.
  for (std::int64_t i = 0; i < x.n(); ++i) CHECK(hpct::test::as_double(x[i]) == -0.5 * before[i]);
  Host<float> f32(Shape{1});
  check_throws_with([&] { be().scale_by(x.t(), f32.t()); }, "scale_by: factor must be float64, got float32");
}

// ---- optimizers: the control tensor and master weights -------------------------------------------------

TEST_CASE_TEMPLATE("optimizers use multiplier * grads and change nothing on a skipped step", T, float, double) {
  const std::int64_t n = 1003;
  auto p0 = rand_host<T>(Shape{n}, 1), g = rand_host<T>(Shape{n}, 2), m0 = rand_host<T>(Shape{n}, 3, 0.0, 0.1);
  auto v0 = rand_host<T>(Shape{n}, 4, 0.0, 0.1);
  AdamWParams ah;
  ah.weight_decay = 0.1;
  SgdParams sh;
  sh.momentum = 0.9;
  sh.weight_decay = 0.01;
  // A multiplier of 0.25 on g is the same step as 0.25 * g with multiplier 1 (bit for bit: g * 0.25 is exact).
  Host<T> g4 = g;
  for (auto& x : g4.v) x *= T(0.25);
  Host<T> pa = p0, ma = m0, va = v0, pb = p0, mb = m0, vb = v0;
  be().adamw_step(pa.t(), Tensor{}, g.t(), ma.t(), va.t(), ah, control(3, 0.25).t());
  be().adamw_step(pb.t(), Tensor{}, g4.t(), mb.t(), vb.t(), ah, control(3).t());
  CHECK(same_bits(pa.v, pb.v));
  CHECK(same_bits(ma.v, mb.v));
  CHECK(same_bits(va.v, vb.v));
  Host<T> sa = p0, ba = m0, sb = p0, bb = m0;
  be().sgd_step(sa.t(), Tensor{}, g.t(), ba.t(), sh, control(2, 0.25).t());
  be().sgd_step(sb.t(), Tensor{}, g4.t(), bb.t(), sh, control(2).t());
  CHECK(same_bits(sa.v, sb.v));
  CHECK(same_bits(ba.v, bb.v));
  // Skipped: nothing changes (not even the step-count check runs: the step count may be 0).
  Host<T> p = p0, m = m0, v = v0;
  be().adamw_step(p.t(), Tensor{}, g.t(), m.t(), v.t(), ah, control(0, 1.0, true).t());
  be().sgd_step(p.t(), Tensor{}, g.t(), m.t(), sh, control(0, 1.0, true).t());
  CHECK(same_bits(p.v, p0.v));
  CHECK(same_bits(m.v, m0.v));
  CHECK(same_bits(v.v, v0.v));
}

// 16-bit parameters: the update goes to the f32 master copy exactly as the f32 path updates f32
// parameters (the same bits, given the same gradient values), and params = round(master).
TEST_CASE_TEMPLATE("adamw_step and sgd_step on 16-bit params with f32 master weights follow the f32 path", H,
                   hpct::bf16, hpct::f16) {
  const std::int64_t n = 20'011;  // several parallel blocks
  const auto start = rand_host<float>(Shape{n}, 1);
  AdamWParams ah;
  ah.lr = 0.01;
  ah.weight_decay = 0.1;
  SgdParams sh;
  sh.lr = 0.1;
  sh.momentum = 0.9;
  sh.weight_decay = 0.01;
  sh.nesterov = true;
  for (const bool adam : {true, false}) {
    CAPTURE(adam);
    Host<float> p32 = start, master = start, m32(Shape{n}, 0.0f), v32(Shape{n}, 0.0f), m(Shape{n}, 0.0f), v(Shape{n}, 0.0f);
    Host<H> p16 = hpct::test::convert_host<H>(start);
    for (std::int64_t step = 1; step <= 3; ++step) {
      auto g = hpct::test::input<H, H>(rand_host<float>(Shape{n}, 10 + step));
      auto g32 = hpct::test::input<float, H>(rand_host<float>(Shape{n}, 10 + step));  // the same values
      Host<double> ctl = control(step, 0.5);
      if (adam) {
        be().adamw_step(p32.t(), Tensor{}, g32.t(), m32.t(), v32.t(), ah, ctl.t());
        be().adamw_step(p16.t(), master.t(), g.t(), m.t(), v.t(), ah, ctl.t());
      } else {
        be().sgd_step(p32.t(), Tensor{}, g32.t(), m32.t(), sh, ctl.t());
        be().sgd_step(p16.t(), master.t(), g.t(), m.t(), sh, ctl.t());
      }
    }
    CHECK(same_bits(master.v, p32.v));
    CHECK(same_bits(m.v, m32.v));
    if (adam) CHECK(same_bits(v.v, v32.v));
    const auto rounded = hpct::test::convert_host<H>(p32);
    CHECK(same_bits(p16.v, rounded.v));
  }
  Host<H> p(Shape{4}), g(Shape{4});
  Host<float> m(Shape{4}), v(Shape{4}), short_master(Shape{3});
  Host<double> ctl = control(1), m64(Shape{4});
  check_throws_with([&] { be().adamw_step(p.t(), Tensor{}, g.t(), m.t(), v.t(), ah, ctl.t()); },
                    "params need master weights (float32), got an empty tensor");
  check_throws_with([&] { be().adamw_step(p.t(), short_master.t(), g.t(), m.t(), v.t(), ah, ctl.t()); },
                    "adamw_step: sizes differ: params [4] has 4 elements, master [3]");
  check_throws_with([&] { be().sgd_step(p.t(), m.t(), g.t(), m64.t(), sh, ctl.t()); },
                    "sgd_step: momentum_buf must be float32, got float64");
  Host<float> g32(Shape{4});
  check_throws_with([&] { be().sgd_step(p.t(), m.t(), g32.t(), m.t(), sh, ctl.t()); }, "sgd_step: dtypes differ");
}

// ---- casts -------------------------------------------------------------------------------------------
namespace {

// f32 values cast to H on the backend, as bits.
template <class H>
std::vector<std::uint16_t> cast_bits(const std::vector<float>& values) {
  Host<float> src(Shape{static_cast<std::int64_t>(values.size())});
  src.v = values;
  Host<H> dst(src.shape);
  be().cast(src.t(), dst.t());
  std::vector<std::uint16_t> bits;
  for (const H h : dst.v) bits.push_back(h.bits);
  return bits;
}

float pow2(int e) { return std::ldexp(1.0f, e); }

}  // namespace

TEST_CASE("cast: bf16 and f16 round to nearest-even, overflow, subnormals, NaN, round trips") {
  // bf16 keeps 8 significant bits: 1 + 2^-8 is a tie between 1 (0x3f80, even) and 1 + 2^-7 (0x3f81);
  // 1 + 3 2^-8 a tie between 0x3f81 and 0x3f82 (even); just above a tie rounds up.
  CHECK(cast_bits<hpct::bf16>({1.0f + pow2(-8), 1.0f + 3 * pow2(-8), 1.0f + pow2(-8) + pow2(-20), -1.0f - pow2(-8)}) ==
        std::vector<std::uint16_t>{0x3f80, 0x3f82, 0x3f81, 0xbf80});
  // f16: 11 significant bits, max 65504 (0x7bff); 65520 and above overflow to inf (what a loss scaler
  // watches for), just below stays finite.
  CHECK(cast_bits<hpct::f16>({1.0f + pow2(-11), 1.0f + 3 * pow2(-11), 65504.0f, 65519.0f, 65520.0f, 1e6f, -1e6f}) ==
        std::vector<std::uint16_t>{0x3c00, 0x3c02, 0x7bff, 0x7bff, 0x7c00, 0x7c00, 0xfc00});
  // f16 subnormals: 2^-24 is the smallest (0x0001); 2^-25 ties to 0 (even), 3 2^-25 to 2 (even);
  // 2^-14 is the smallest normal; 2^-26 underflows to 0.
  CHECK(cast_bits<hpct::f16>({pow2(-24), pow2(-25), 3 * pow2(-25), pow2(-14), pow2(-26), -pow2(-24)}) ==
        std::vector<std::uint16_t>{0x0001, 0x0000, 0x0002, 0x0400, 0x0000, 0x8001});
  // bf16 has float's exponent range: float subnormals keep their top bits (2^-130 is bit 19 of the
  // float, bit 3 of the bf16; 2^-134, bit 15, is a tie that rounds to the even 0).
  CHECK(cast_bits<hpct::bf16>({pow2(-130), pow2(-134), pow2(-134) + pow2(-149)}) ==
        std::vector<std::uint16_t>{0x0008, 0x0000, 0x0001});
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  const auto bnan = cast_bits<hpct::bf16>({nan, inf, -inf});
  CHECK((bnan[0] & 0x7fff) > 0x7f80);  // NaN stays NaN (never rounds into infinity)
  CHECK(bnan[1] == 0x7f80);
  CHECK(bnan[2] == 0xff80);
  const auto hnan = cast_bits<hpct::f16>({nan, inf, -inf});
  CHECK((hnan[0] & 0x7fff) > 0x7c00);
  CHECK(hnan[1] == 0x7c00);
  CHECK(hnan[2] == 0xfc00);

  // Round trips: every f16 and every bf16 value -> f32 -> back is the identity (NaNs stay NaN); f32 ->
  // f64 -> f32 too.
  Host<hpct::f16> all_h(Shape{65536});
  Host<hpct::bf16> all_b(Shape{65536});
  for (std::int64_t i = 0; i < 65536; ++i) all_h[i].bits = all_b[i].bits = static_cast<std::uint16_t>(i);
  Host<float> wide(Shape{65536});
  Host<hpct::f16> back_h(Shape{65536});
  Host<hpct::bf16> back_b(Shape{65536});
  be().cast(all_h.t(), wide.t());
  be().cast(wide.t(), back_h.t());
  be().cast(all_b.t(), wide.t());
  be().cast(wide.t(), back_b.t());
  std::int64_t mismatches = 0;
  for (std::int64_t i = 0; i < 65536; ++i) {
    const bool h_nan = (i & 0x7fff) > 0x7c00, b_nan = (i & 0x7fff) > 0x7f80;
    mismatches += h_nan ? !std::isnan(hpct::to_float(back_h[i])) : back_h[i].bits != all_h[i].bits;
    mismatches += b_nan ? !std::isnan(hpct::to_float(back_b[i])) : back_b[i].bits != all_b[i].bits;
  }
  CHECK(mismatches == 0);
  auto f = rand_host<float>(Shape{1000}, 7, -1e30, 1e30);
  Host<double> d(f.shape);
  Host<float> f2(f.shape);
  be().cast(f.t(), d.t());
  be().cast(d.t(), f2.t());
  CHECK(same_bits(f2.v, f.v));
  // f64 -> 16-bit rounds once: 1 + 2^-11 + 2^-40 is just above an f16 tie (the plain double -> float
  // rounding would land on the tie and round down to 1).
  Host<double> above(Shape{2});
  above.v = {1.0 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40), 1.0 + std::ldexp(1.0, -8) + std::ldexp(1.0, -40)};
  Host<hpct::f16> h2(Shape{2});
  Host<hpct::bf16> b2(Shape{2});
  be().cast(above.t(), h2.t());
  be().cast(above.t(), b2.t());
  CHECK(h2[0].bits == 0x3c01);
  CHECK(b2[1].bits == 0x3f81);
  // bf16 <-> f16 directly (through the exact f32 value).
  Host<hpct::bf16> b1(Shape{1});
  b1[0] = hpct::to_bf16(3.0f);
  Host<hpct::f16> h1(Shape{1});
  be().cast(b1.t(), h1.t());
  CHECK(h1[0].bits == 0x4200);
  Host<std::int32_t> ints(Shape{2});
  check_throws_with([&] { be().cast(ints.t(), h2.t()); }, "cast: src must be a floating-point tensor, got int32");
  check_throws_with([&] { be().cast(above.t(), h1.t()); }, "cast: sizes differ");
}

// ---- 16-bit kernels against f32 ----------------------------------------------------------------------
// The CPU widens 16-bit inputs to f32, runs the f32 kernel and rounds the outputs: each output must be
// exactly round(the f32 kernel on the same values), and within half_tolerance (bf16 2^-6, f16 2^-9 of
// the output's largest magnitude) of f32 on unrounded inputs (check_half_against_f32). An output that
// feeds another op goes through input<T, In> again, so the f32 run on rounded values sees what the
// 16-bit run stored.
TEST_CASE_TEMPLATE("16-bit dense, elementwise, normalisation and loss kernels against f32", H, hpct::bf16, hpct::f16) {
  using hpct::test::check_half_against_f32;
  using hpct::test::input;
  using hpct::test::Outputs;
  const std::int64_t m = 70, n = 48, k = 64;
  const auto a32 = rand_host<float>(Shape{m, k}, 1), b32 = rand_host<float>(Shape{n, k}, 2);
  const auto bias32 = rand_host<float>(Shape{n}, 3), c32 = rand_host<float>(Shape{m, n}, 4);
  const auto dy32 = rand_host<float>(Shape{m, n}, 5), db32 = rand_host<float>(Shape{n}, 6);
  check_half_against_f32<H>([&](auto t, auto in) {
    using T = decltype(t);
    using In = decltype(in);
    auto a = input<T, In>(a32), b = input<T, In>(b32), bias = input<T, In>(bias32), c = input<T, In>(c32);
    Host<T> pre(Shape{m, n}), y(Shape{m, n}), dx(Shape{m, n});
    auto dy = input<T, In>(dy32), db = input<T, In>(db32);
    be().gemm(a.t(), false, b.t(), true, c.t(), 0.5, -1.0);  // beta != 0: C is read and written
    be().gemm_bias_act(a.t(), false, b.t(), true, bias.t(), Activation::gelu_tanh, pre.t(), y.t());
    auto pre_in = input<T, In>(pre);
    be().activation_bias_grad(Activation::gelu_tanh, pre_in.t(), dy.t(), dx.t(), db.t());
    Host<T> dbias = input<T, In>(db32);
    be().bias_grad(dy.t(), dbias.t());
    return Outputs{{to_double(c), to_double(pre), to_double(y), to_double(dx), to_double(db), to_double(dbias)}, {}};
  }, "gemm, activation, bias");

  const auto x32 = rand_host<float>(Shape{m, n}, 7, -2.0, 3.0), g32 = rand_host<float>(Shape{n}, 8, 0.5, 1.5);
  check_half_against_f32<H>([&](auto t, auto in) {
    using T = decltype(t);
    using In = decltype(in);
    auto x = input<T, In>(x32), gamma = input<T, In>(g32), beta = input<T, In>(bias32), dy = input<T, In>(dy32);
    auto dgamma = input<T, In>(db32), dbeta = input<T, In>(bias32);
    Host<T> y(Shape{m, n}), dx(Shape{m, n}), sm(Shape{m, n}), dsm(Shape{m, n}), drop(Shape{m, n});
    Host<float> mean(Shape{m}), rstd(Shape{m});  // stats_dtype: f32 for f32 and 16-bit x
    be().layernorm_forward(x.t(), gamma.t(), beta.t(), y.t(), mean.t(), rstd.t(), 1e-5);
    be().layernorm_backward(x.t(), gamma.t(), mean.t(), rstd.t(), dy.t(), dx.t(), dgamma.t(), dbeta.t());
    be().softmax_forward(x.t(), sm.t());
    auto sm_in = input<T, In>(sm);
    be().softmax_backward(sm_in.t(), dy.t(), dsm.t());
    be().dropout_forward(x.t(), drop.t(), 0.25, 3, 4);
    Host<T> ax = input<T, In>(dy32);
    be().axpy(-0.75, x.t(), ax.t());
    Host<double> ss(Shape{1});
    be().sum_squares(x.t(), ss.t());
    return Outputs{{to_double(y), to_double(dx), to_double(dgamma), to_double(dbeta), to_double(sm), to_double(dsm),
                    to_double(drop), to_double(ax)},
                   {to_double(mean), to_double(rstd), ss.v}};
  }, "layernorm, softmax, dropout, axpy, sum_squares");

  for (const LossKind kind : kAllLosses) {
    CAPTURE(loss_name(kind));
    const LossCase lc{kind, 60, 5};
    const LossInputs<float> in32(lc, 9);
    check_half_against_f32<H>([&](auto t, auto in) {
      using T = decltype(t);
      using In = decltype(in);
      auto pred = input<T, In>(in32.pred), target = input<T, In>(in32.target);
      Host<std::int32_t> labels = in32.labels;
      Host<T> dpred(pred.shape);
      LossArgs args;
      args.mean = true;
      const LossSum got = run_loss<T>(be(), kind, pred, target, labels, dpred.t(), 1.0, args);
      return Outputs{{to_double(dpred)}, {{got.sum, got.count}}};
    }, loss_name(kind));
  }
}

TEST_CASE("checksum: equal bits give equal digests, one flipped bit or a moved word another, any thread count") {
  Host<float> x = rand_host<float>(Shape{100003}, 21);  // not a multiple of 2 floats: a padded last word
  Host<std::int64_t> d0(Shape{1}), d1(Shape{1}), d2(Shape{1});
  be().checksum(x.t(), d0.t());
  const auto two = make_cpu_backend(2), one = make_cpu_backend(1);
  two->checksum(x.t(), d1.t());
  one->checksum(x.t(), d2.t());
  CHECK(d0[0] == d1[0]);
  CHECK(d0[0] == d2[0]);
  Host<float> y = x;
  std::uint32_t bits;
  std::memcpy(&bits, &y[777], 4);
  bits ^= 1u;  // the last bit of one mantissa
  std::memcpy(&y[777], &bits, 4);
  be().checksum(y.t(), d1.t());
  CHECK(d1[0] != d0[0]);
  Host<float> z = x;
  std::swap(z[0], z[2]);  // the same words in another order
  be().checksum(z.t(), d2.t());
  CHECK(d2[0] != d0[0]);
  check_throws_with([&] { be().checksum(x.t(), Host<double>(Shape{1}).t()); }, "checksum: out");
}
