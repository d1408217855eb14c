// The suite a backend is held to: every op of kernels::Backend, on random inputs (fixed seeds), at every
// float precision it takes (f32, bf16, f16, and f64), against the synchronous CPU backend ("cpu", the
// reference). Each op runs once per backend on that backend's own memory (Buffers from its allocator,
// inputs copied from host staging with Backend::copy); every output is read back with Backend::read and
// compared with the reference's under the candidate's tolerance policy (candidates()). An asynchronous
// candidate's stream is held back until the op's call has returned, so its ops run on arguments copied
// at enqueue time, not on the caller's (gone) ones. Every run also checks that the backend waited on the
// host exactly once per output read: no op, upload or fill waits.
//
// A chain of dependent ops (a whole training step: gemm_bias_act -> layernorm -> softmax -> two losses
// into one accumulator -> the backward -> gradient norm -> step_control -> adamw_step) runs without a
// host wait in between and is compared at the end the same way.
//
// A new backend joins by adding its device name and tolerance to candidates().
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <future>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/buffer.hpp"
#include "core/error.hpp"
#include "core/half.hpp"
#include "core/stream.hpp"
#include "core/tensor.hpp"
#include "kernels/kernels.hpp"
#include "stream_gate.hpp"
#include "kernel_test_support.hpp"

using hpct::Buffer;
using hpct::DType;
using hpct::Shape;
using hpct::Tensor;
using namespace hpct::kernels;

namespace {

using hpct::test::as_double;
using hpct::test::convert_host;
using hpct::test::Host;
using hpct::test::rand_host;

// ---- the backends held to the reference, and how closely ---------------------------------------------

// How closely a candidate's output must match the reference's. rel == 0: the same bits (the same kernel
// code run differently, as cpu-async: any difference is a bug). rel > 0: every element within
// rel * (the output's largest finite |reference|) of the reference, NaN where the reference is NaN and
// the same infinities (a backend with its own kernels: another summation order, fused epilogues, fast
// math), keyed by the op's compute dtype (an f64 loss accumulator of f32 inputs is as exact as f32).
struct Tolerance {
  double rel = 0.0;
  bool exact() const { return rel == 0.0; }
};

Tolerance exact_bits(DType /*compute*/) { return {}; }

// The hook for a backend with kernels of its own (CUDA: cuBLAS, its own reductions): f64 1e-12, f32
// 1e-5, and for 16-bit storage four units of its rounding (bf16 2^-6, f16 2^-9; the bound of
// check_half_against_f32, since one rounding of an output that lands the other side of a tie is a whole
// unit) of the output's largest magnitude.
Tolerance relative_tolerance(DType compute) {
  switch (compute) {
    case DType::f64: return {1e-12};
    case DType::f32: return {1e-5};
    case DType::bf16: return {hpct::test::half_tolerance<hpct::bf16>()};
    case DType::f16: return {hpct::test::half_tolerance<hpct::f16>()};
    default: return {};
  }
}

struct Candidate {
  const char* device;  // make_backend's name
  Tolerance (*tolerance)(DType compute);
  // The backend is asynchronous: each run holds its stream back (a host function that blocks it) until
  // the whole op sequence has been called, so every op runs after its call returned and the caller's
  // arguments (LossArgs, AttentionArgs, gemm's epilogue, temporaries) are gone.
  bool hold_back;
};

// The reference and the backends compared with it. The CUDA backend joins when HPCTRAIN_TEST_CUDA is set
// (ctest -L gpu: tests/gpu/agreement.sh, which skips where no GPU is usable).
constexpr const char* kReference = "cpu";
std::vector<Candidate> candidates() {
  std::vector<Candidate> c = {{"cpu-async", exact_bits, true}};
  const char* cuda = std::getenv("HPCTRAIN_TEST_CUDA");
  if (cuda && *cuda && std::string(cuda) != "0") c.push_back({"cuda", relative_tolerance, true});
  return c;
}
constexpr int kThreads = 2;  // both sides: the CPU kernels give the same bits on any count (tested elsewhere)

// ---- one backend's run of an op ----------------------------------------------------------------------

// An output read back: its values as doubles and its raw bytes.
struct Readback {
  std::string name;
  Shape shape;
  DType dtype = DType::f32;
  bool opaque = false;  // a backend's private state (attention's saved): compared only when both sides
                        // keep it in the same shape and dtype
  std::vector<unsigned char> bytes;
  std::vector<double> values;
};

template <class T>
void read_into(Backend& be, const Tensor& t, Readback& out) {
  const std::vector<T> v = be.read<T>(t);
  out.bytes.resize(v.size() * sizeof(T));
  if (!v.empty()) std::memcpy(out.bytes.data(), v.data(), out.bytes.size());
  out.values.reserve(v.size());
  for (const T x : v) out.values.push_back(as_double(x));
}

// The tensors of one run on backend `be`: inputs uploaded from staging copies the run keeps until it
// ends (so callers may pass temporaries), outputs registered in order and read back by results().
// Outputs that are only written start as NaN (-1 for integers; fill on the backend), so an element a kernel leaves
// alone compares equal only if both backends leave it alone.
class Run {
 public:
  explicit Run(Backend& backend) : be(backend) {}
  Backend& be;

  template <class T>
  Tensor in(const Host<T>& h) {
    auto& stage = staging_.emplace_back(h.v.size() * sizeof(T));
    if (!stage.empty()) std::memcpy(stage.data(), h.v.data(), stage.size());
    const Tensor t = device(h.shape, hpct::dtype_of<T>());
    be.copy(t, Tensor(stage.data(), h.shape, hpct::dtype_of<T>()));
    return t;
  }
  // An output the op reads or accumulates into, starting as h.
  template <class T>
  Tensor inout(const Host<T>& h, const std::string& name) {
    const Tensor t = in(h);
    outputs_.push_back({name, t, false});
    return t;
  }
  // An output the op overwrites.
  Tensor out(Shape s, DType t, const std::string& name, bool opaque = false) {
    const Tensor d = scratch(s, t);
    outputs_.push_back({name, d, opaque});
    return d;
  }
  template <class T>
  Tensor out(Shape s, const std::string& name) {
    return out(s, hpct::dtype_of<T>(), name);
  }
  // Device memory the run uses but does not read back (intermediates of a chain): NaN to start (-1 for
  // integers).
  Tensor scratch(Shape s, DType t) {
    const Tensor d = device(s, t);
    be.fill(d, hpct::is_float(t) ? std::numeric_limits<double>::quiet_NaN() : -1.0);
    return d;
  }
  template <class T>
  Tensor scratch(Shape s) {
    return scratch(s, hpct::dtype_of<T>());
  }

  // Reads every output back, in registration order: one host wait each.
  std::vector<Readback> results() {
    std::vector<Readback> all;
    for (const Output& o : outputs_) {
      Readback r{o.name, o.t.shape, o.t.dtype, o.opaque, {}, {}};
      switch (o.t.dtype) {
        case DType::f32: read_into<float>(be, o.t, r); break;
        case DType::f64: read_into<double>(be, o.t, r); break;
        case DType::bf16: read_into<hpct::bf16>(be, o.t, r); break;
        case DType::f16: read_into<hpct::f16>(be, o.t, r); break;
        case DType::i32: read_into<std::int32_t>(be, o.t, r); break;
        case DType::i64: read_into<std::int64_t>(be, o.t, r); break;
      }
      all.push_back(std::move(r));
    }
    return all;
  }

 private:
  struct Output {
    std::string name;
    Tensor t;
    bool opaque;
  };
  Tensor device(Shape s, DType t) { return buffers_.emplace_back(be.allocator(), s, t).tensor(); }
  std::deque<std::vector<unsigned char>> staging_;  // outlives buffers_, whose freeing waits for the copies
  std::deque<Buffer> buffers_;
  std::vector<Output> outputs_;
};

using hpct::test::Gate;

// ---- comparing outputs --------------------------------------------------------------------------------

struct Mismatch {
  std::int64_t count = 0, first = -1;
};

// The elements of got that do not match ref under tol (same dtype and size).
Mismatch compare(const Readback& ref, const Readback& got, Tolerance tol) {
  Mismatch m;
  const std::size_t n = ref.values.size(), es = hpct::size_of(ref.dtype);
  double scale = 0.0;
  if (!tol.exact())
    for (const double v : ref.values)
      if (std::isfinite(v)) scale = std::max(scale, std::abs(v));
  const double bound = tol.rel * std::max(scale, 1e-30);
  for (std::size_t i = 0; i < n; ++i) {
    bool same;
    if (tol.exact()) {
      same = std::memcmp(ref.bytes.data() + i * es, got.bytes.data() + i * es, es) == 0;
    } else {
      const double r = ref.values[i], g = got.values[i];
      same = (std::isnan(r) && std::isnan(g)) || r == g || std::abs(g - r) <= bound;
    }
    if (!same) {
      if (m.count == 0) m.first = static_cast<std::int64_t>(i);
      ++m.count;
    }
  }
  return m;
}

std::string hex_bits(const Readback& r, std::int64_t i) {
  const std::size_t es = hpct::size_of(r.dtype);
  std::uint64_t bits = 0;
  std::memcpy(&bits, r.bytes.data() + static_cast<std::size_t>(i) * es, es);  // little-endian
  std::ostringstream s;
  s << "0x" << std::hex << bits;
  return s.str();
}

void check_outputs(const std::vector<Readback>& want, const std::vector<Readback>& got, Tolerance tol,
                   const std::string& what) {
  REQUIRE(want.size() == got.size());
  for (std::size_t k = 0; k < want.size(); ++k) {
    const Readback &r = want[k], &g = got[k];
    std::ostringstream msg;
    msg.precision(17);
    msg << what << ": output " << r.name << " " << r.shape.str() << " " << hpct::name_of(r.dtype);
    if (r.shape != g.shape || r.dtype != g.dtype) {
      if (r.opaque) continue;  // the backend keeps its own private state
      msg << ": got " << g.shape.str() << " " << hpct::name_of(g.dtype);
      FAIL_CHECK(msg.str());
      continue;
    }
    const Tolerance t = hpct::is_float(r.dtype) ? tol : Tolerance{};  // integers: always exact
    const Mismatch m = compare(r, g, t);
    if (m.count == 0) continue;
    const auto i = static_cast<std::size_t>(m.first);
    msg << ": " << m.count << " of " << r.values.size() << " elements differ ("
        << (t.exact() ? "exact bits" : "relative tolerance") << "); first at flat index " << i << ": reference "
        << r.values[i] << " (" << hex_bits(r, m.first) << "), got " << g.values[i] << " (" << hex_bits(g, m.first)
        << ")";
    FAIL_CHECK(msg.str());
  }
}

// The reference and the candidates of a test case: check() runs an op on each and compares.
class Agreement {
 public:
  Agreement() : ref_(make_backend(kReference, kThreads)) {
    for (const Candidate& c : candidates()) candidates_.push_back({c, make_backend(c.device, kThreads)});
  }

  // op(Run&) makes its tensors through the Run and calls the op(s) on run.be; compute is the op's float
  // dtype (the tolerance key).
  template <class Op>
  void check(const std::string& what, DType compute, Op&& op) {
    const std::vector<Readback> want = run(*ref_, op, what, false);
    for (auto& [spec, backend] : candidates_) {
      const std::vector<Readback> got = run(*backend, op, what, spec.hold_back);
      check_outputs(want, got, spec.tolerance(compute), what + " [" + hpct::name_of(compute) + ", " + spec.device +
                                                            " vs " + kReference + "]");
    }
  }

 private:
  template <class Op>
  static std::vector<Readback> run(Backend& be, Op& op, const std::string& what, bool hold_back) {
    const std::int64_t before = be.host_syncs();
    std::vector<Readback> out;
    {
      Run r(be);
      std::optional<Gate> gate;
      if (hold_back) gate.emplace(be.stream());
      op(r);
      if (gate) gate->open();
      out = r.results();
    }
    INFO(what, " on ", be.name(), ": host waits besides the ", out.size(), " reads");
    CHECK(be.host_syncs() - before == static_cast<std::int64_t>(out.size()));
    return out;
  }

  std::unique_ptr<Backend> ref_;
  std::vector<std::pair<Candidate, std::unique_ptr<Backend>>> candidates_;
};

// ---- shared inputs -----------------------------------------------------------------------------------

template <class T>
using Wide = std::conditional_t<std::is_same_v<T, double>, double, float>;  // stats_dtype / master_dtype

template <class T>
std::string dname() {
  return hpct::name_of(hpct::dtype_of<T>());
}

const Activation kActivations[] = {Activation::identity, Activation::relu, Activation::gelu_tanh,
                                   Activation::gelu_exact, Activation::tanh, Activation::silu};

std::string op_name(bool ta, bool tb) { return std::string(ta ? "A^T" : "A") + (tb ? " B^T" : " B"); }

Host<std::int32_t> ints(Shape s, std::vector<std::int32_t> v) {
  Host<std::int32_t> h(s);
  h.v = std::move(v);
  REQUIRE(h.v.size() == static_cast<std::size_t>(s.numel()));
  return h;
}

Host<double> scalars(std::vector<double> v) {
  Host<double> h(Shape{static_cast<std::int64_t>(v.size())});
  h.v = std::move(v);
  return h;
}

// Calls f(U{}) for every float dtype.
template <class F>
void for_each_float(F&& f) {
  f(float{});
  f(double{});
  f(hpct::bf16{});
  f(hpct::f16{});
}

#define AGREE_DTYPES float, double, hpct::bf16, hpct::f16

}  // namespace

// ================================================================================================
// The comparison itself: exact mode sees one ulp (and -0 vs +0, and NaN payloads), the relative hook
// takes what is within its bound and nothing beyond.
TEST_CASE("backends agree: the comparison policy (exact bits, relative tolerance)") {
  const auto make = [](std::vector<float> v) {
    Readback r{"x", Shape{static_cast<std::int64_t>(v.size())}, DType::f32, false, {}, {}};
    r.bytes.resize(v.size() * 4);
    std::memcpy(r.bytes.data(), v.data(), r.bytes.size());
    for (const float x : v) r.values.push_back(x);
    return r;
  };
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  const Readback ref = make({1.0f, -2.0f, 0.0f, nan, inf, 100.0f});
  CHECK(compare(ref, ref, exact_bits(DType::f32)).count == 0);
  const Readback ulp = make({std::nextafter(1.0f, 2.0f), -2.0f, -0.0f, nan, inf, 100.0f});
  const Mismatch m = compare(ref, ulp, exact_bits(DType::f32));
  CHECK(m.count == 2);
  CHECK(m.first == 0);
  // Relative: bound 1e-5 * 100 (the largest finite magnitude) = 1e-3; NaN matches NaN, inf matches inf.
  const Tolerance rel = relative_tolerance(DType::f32);
  CHECK(rel.rel == 1e-5);
  CHECK(compare(ref, ulp, rel).count == 0);
  CHECK(compare(ref, make({1.0009f, -2.0f, 0.0f, nan, inf, 100.0f}), rel).count == 0);
  CHECK(compare(ref, make({1.0011f, -2.0f, 0.0f, nan, inf, 100.0f}), rel).count == 1);
  CHECK(compare(ref, make({1.0f, -2.0f, 0.0f, 0.0f, inf, 100.0f}), rel).count == 1);
  CHECK(compare(ref, make({1.0f, -2.0f, 0.0f, nan, -inf, 100.0f}), rel).count == 1);
  CHECK(relative_tolerance(DType::bf16).rel == 1.0 / 64);
  CHECK(relative_tolerance(DType::f16).rel == 1.0 / 512);
  CHECK(relative_tolerance(DType::f64).rel == 1e-12);
}

TEST_CASE_TEMPLATE("backends agree: copy, fill, cast, gather_rows", T, AGREE_DTYPES) {
  Agreement ag;
  const DType dt = hpct::dtype_of<T>();
  const std::int64_t n = 70'001;  // several parallel blocks
  const auto x = rand_host<T>(Shape{n}, 1, -3.0, 3.0);
  ag.check("copy", dt, [&](Run& r) { r.be.copy(r.out<T>(Shape{n}, "dst"), r.in(x)); });
  ag.check("fill", dt, [&](Run& r) { r.be.fill(r.out<T>(Shape{n}, "t"), 0.3); });
  ag.check("fill a view", dt, [&](Run& r) { r.be.fill(r.inout(x, "t").flat_range(100, 40'000), -1.7); });
  // Casts to every float dtype, of values wide enough to overflow f16 and small enough for subnormals.
  const auto wide = rand_host<T>(Shape{n}, 2, -1e5, 1e5), tiny = rand_host<T>(Shape{n}, 3, -1e-6, 1e-6);
  for_each_float([&](auto u) {
    using U = decltype(u);
    ag.check("cast wide to " + dname<U>(), dt, [&](Run& r) { r.be.cast(r.in(wide), r.out<U>(Shape{n}, "dst")); });
    ag.check("cast tiny to " + dname<U>(), dt, [&](Run& r) { r.be.cast(r.in(tiny), r.out<U>(Shape{n}, "dst")); });
  });
  // gather_rows: repeated and out-of-order rows.
  const std::int64_t rows = 300, cols = 130, picks = 500;
  const auto src = rand_host<T>(Shape{rows, cols}, 4);
  Host<std::int64_t> index(Shape{picks});
  for (std::int64_t i = 0; i < picks; ++i) index[i] = (i * 7919 + 13) % rows;
  ag.check("gather_rows", dt,
           [&](Run& r) { r.be.gather_rows(r.in(src), r.in(index), r.out<T>(Shape{picks, cols}, "out")); });
}

TEST_CASE("backends agree: integer copy and fill") {
  Agreement ag;
  Host<std::int32_t> i32(Shape{5000});
  Host<std::int64_t> i64(Shape{5000});
  for (std::int64_t i = 0; i < 5000; ++i) {
    i32[i] = static_cast<std::int32_t>(i * 2654435761u);
    i64[i] = static_cast<std::int64_t>(static_cast<std::uint64_t>(i) * 0x9E3779B97F4A7C15ull);
  }
  ag.check("copy i32", DType::f32, [&](Run& r) { r.be.copy(r.out(Shape{5000}, DType::i32, "dst"), r.in(i32)); });
  ag.check("copy i64", DType::f64, [&](Run& r) { r.be.copy(r.out(Shape{5000}, DType::i64, "dst"), r.in(i64)); });
  ag.check("fill i32", DType::f32, [&](Run& r) { r.be.fill(r.out(Shape{5000}, DType::i32, "t"), -123456); });
  ag.check("fill i64", DType::f64, [&](Run& r) { r.be.fill(r.out(Shape{5000}, DType::i64, "t"), 1e15); });
}

TEST_CASE_TEMPLATE("backends agree: gemm, gemm_bias, gemm_bias_act (every transpose, every activation)", T,
                   AGREE_DTYPES) {
  Agreement ag;
  const DType dt = hpct::dtype_of<T>();
  const std::int64_t m = 160, k = 70, n = 230;  // no multiple of a tile; m n over one parallel block
  const auto c0 = rand_host<T>(Shape{m, n}, 3), bias = rand_host<T>(Shape{n}, 4);
  for (const bool ta : {false, true})
    for (const bool tb : {false, true}) {
      const std::string op = op_name(ta, tb);
      const auto a = rand_host<T>(ta ? Shape{k, m} : Shape{m, k}, 1);
      const auto b = rand_host<T>(tb ? Shape{n, k} : Shape{k, n}, 2);
      ag.check("gemm alpha 0.75 beta -0.5 " + op, dt,
               [&](Run& r) { r.be.gemm(r.in(a), ta, r.in(b), tb, r.inout(c0, "C"), 0.75, -0.5); });
      ag.check("gemm beta 1 (accumulate) " + op, dt,
               [&](Run& r) { r.be.gemm(r.in(a), ta, r.in(b), tb, r.inout(c0, "C"), -1.25, 1.0); });
      ag.check("gemm beta 0 " + op, dt,
               [&](Run& r) { r.be.gemm(r.in(a), ta, r.in(b), tb, r.out<T>(Shape{m, n}, "C")); });
      ag.check("gemm_bias " + op, dt,
               [&](Run& r) { r.be.gemm_bias(r.in(a), ta, r.in(b), tb, r.in(bias), r.out<T>(Shape{m, n}, "C")); });
      for (const Activation f : kActivations)
        ag.check("gemm_bias_act " + to_string(f) + " " + op, dt, [&](Run& r) {
          r.be.gemm_bias_act(r.in(a), ta, r.in(b), tb, r.in(bias), f, r.out<T>(Shape{m, n}, "C"),
                             r.out<T>(Shape{m, n}, "y"));
        });
    }
  // Folded leading dimensions: a Linear on [N, L, K].
  const auto a3 = rand_host<T>(Shape{4, 40, k}, 5), w = rand_host<T>(Shape{n, k}, 6);
  ag.check("gemm_bias_act on [N, L, K]", dt, [&](Run& r) {
    r.be.gemm_bias_act(r.in(a3), false, r.in(w), true, r.in(bias), Activation::gelu_tanh,
                       r.out<T>(Shape{4, 40, n}, "C"), r.out<T>(Shape{4, 40, n}, "y"));
  });
}

TEST_CASE_TEMPLATE("backends agree: bias_add, bias_grad, axpy, scale, sum_squares, checksum", T, AGREE_DTYPES) {
  Agreement ag;
  const DType dt = hpct::dtype_of<T>();
  const std::int64_t rows = 700, cols = 75;  // several reduction chunks
  const auto y = rand_host<T>(Shape{rows, cols}, 10), bias = rand_host<T>(Shape{cols}, 11);
  const auto dy = rand_host<T>(Shape{rows, cols}, 12), db = rand_host<T>(Shape{cols}, 13);
  ag.check("bias_add", dt, [&](Run& r) { r.be.bias_add(r.inout(y, "y"), r.in(bias)); });
  ag.check("bias_grad", dt, [&](Run& r) { r.be.bias_grad(r.in(dy), r.inout(db, "dbias")); });
  const std::int64_t n = 70'001;
  const auto x = rand_host<T>(Shape{n}, 14, -4.0, 4.0), z = rand_host<T>(Shape{n}, 15);
  ag.check("axpy", dt, [&](Run& r) { r.be.axpy(-0.7, r.in(x), r.inout(z, "y")); });
  ag.check("scale", dt, [&](Run& r) { r.be.scale(r.inout(x, "x"), 1.3); });
  ag.check("sum_squares", dt, [&](Run& r) { r.be.sum_squares(r.in(x), r.out<double>(Shape{1}, "out")); });
  ag.check("checksum", dt, [&](Run& r) { r.be.checksum(r.in(x), r.out(Shape{1}, DType::i64, "out")); });
}

TEST_CASE_TEMPLATE("backends agree: activations and dropout", T, AGREE_DTYPES) {
  Agreement ag;
  const DType dt = hpct::dtype_of<T>();
  const std::int64_t rows = 300, cols = 75;
  const Shape s{rows, cols};
  const auto x = rand_host<T>(s, 20, -4.0, 4.0), dy = rand_host<T>(s, 21), db = rand_host<T>(Shape{cols}, 22);
  for (const Activation f : kActivations) {
    const std::string a = to_string(f);
    ag.check("activation_forward " + a, dt, [&](Run& r) { r.be.activation_forward(f, r.in(x), r.out<T>(s, "y")); });
    ag.check("activation_forward in place " + a, dt, [&](Run& r) {
      const Tensor t = r.inout(x, "x");
      r.be.activation_forward(f, t, t);
    });
    ag.check("activation_backward " + a, dt,
             [&](Run& r) { r.be.activation_backward(f, r.in(x), r.in(dy), r.out<T>(s, "dx")); });
    ag.check("activation_bias_grad " + a, dt, [&](Run& r) {
      r.be.activation_bias_grad(f, r.in(x), r.in(dy), r.out<T>(s, "dx"), r.inout(db, "dbias"));
    });
    ag.check("activation_bias_grad in place " + a, dt, [&](Run& r) {
      const Tensor d = r.inout(dy, "dy = dx");
      r.be.activation_bias_grad(f, r.in(x), d, d, r.inout(db, "dbias"));
    });
  }
  const std::int64_t n = 70'001;
  const auto dx = rand_host<T>(Shape{n}, 23), dd = rand_host<T>(Shape{n}, 24);
  for (const double p : {0.0, 0.3}) {
    const std::string ps = " p=" + std::to_string(p);
    ag.check("dropout_forward" + ps, dt,
             [&](Run& r) { r.be.dropout_forward(r.in(dx), r.out<T>(Shape{n}, "y"), p, 11, 5); });
    ag.check("dropout_backward" + ps, dt,
             [&](Run& r) { r.be.dropout_backward(r.in(dd), r.out<T>(Shape{n}, "dx"), p, 11, 5); });
  }
  // Row keys: 7 rows of 10'000 elements, their ids out of order and far apart.
  const std::int64_t krows = 7, kn = 70'000;
  const auto kx = rand_host<T>(Shape{krows, kn / krows}, 25);
  Host<std::int64_t> ids(Shape{krows});
  for (std::int64_t i = 0; i < krows; ++i) ids[i] = (i * 7919) % 10'007 + (i == 3 ? 123'456'789 : 0);
  ag.check("dropout_forward row keys", dt, [&](Run& r) {
    r.be.dropout_forward(r.in(kx), r.out<T>(kx.shape, "y"), 0.3, 11, 5, r.in(ids));
  });
  ag.check("dropout_backward row keys", dt, [&](Run& r) {
    r.be.dropout_backward(r.in(kx), r.out<T>(kx.shape, "dx"), 0.3, 11, 5, r.in(ids));
  });
}

TEST_CASE_TEMPLATE("backends agree: layernorm and softmax forward and backward", T, AGREE_DTYPES) {
  using S = Wide<T>;
  Agreement ag;
  const DType dt = hpct::dtype_of<T>();
  const std::int64_t n = 6, len = 50, cols = 96, rows = n * len;
  const Shape s{n, len, cols};
  const auto x = rand_host<T>(s, 30, -2.0, 3.0), gamma = rand_host<T>(Shape{cols}, 31, 0.5, 1.5);
  const auto beta = rand_host<T>(Shape{cols}, 32), dy = rand_host<T>(s, 33);
  const auto dgamma = rand_host<T>(Shape{cols}, 34), dbeta = rand_host<T>(Shape{cols}, 35);
  ag.check("layernorm forward and backward", dt, [&](Run& r) {
    const Tensor xd = r.in(x), g = r.in(gamma);
    const Tensor mean = r.out<S>(Shape{rows}, "mean"), rstd = r.out<S>(Shape{rows}, "rstd");
    r.be.layernorm_forward(xd, g, r.in(beta), r.out<T>(s, "y"), mean, rstd, 1e-5);
    r.be.layernorm_backward(xd, g, mean, rstd, r.in(dy), r.out<T>(s, "dx"), r.inout(dgamma, "dgamma"),
                            r.inout(dbeta, "dbeta"));
  });
  const Shape sm{400, 131};
  const auto logits = rand_host<T>(sm, 36, -5.0, 5.0), dsm = rand_host<T>(sm, 37);
  ag.check("softmax forward and backward", dt, [&](Run& r) {
    const Tensor y = r.out<T>(sm, "y");
    r.be.softmax_forward(r.in(logits), y);
    r.be.softmax_backward(y, r.in(dsm), r.out<T>(sm, "dx"));
  });
  ag.check("softmax forward in place", dt, [&](Run& r) {
    const Tensor t = r.inout(logits, "x = y");
    r.be.softmax_forward(t, t);
  });
}

// Attention forward then backward on r's backend, the saved state as that backend keeps it (opaque).
template <class T>
void run_attention(Run& r, const Host<T>& qkv, const Host<T>& dout, const AttentionArgs& args) {
  const std::int64_t n = qkv.shape[0], len = qkv.shape[1], d = qkv.shape[2] / 3;
  const DType dt = hpct::dtype_of<T>();
  const Tensor q = r.in(qkv);
  const Tensor saved = r.out(r.be.attention_saved_shape(qkv.shape, dt, args),
                             r.be.attention_saved_dtype(qkv.shape, dt, args), "saved", /*opaque=*/true);
  const Tensor out = r.out<T>(Shape{n, len, d}, "out");
  r.be.attention_forward(q, out, saved, args);
  r.be.attention_backward(q, out, saved, r.in(dout), r.out<T>(Shape{n, len, 3 * d}, "dqkv"), args);
}

TEST_CASE_TEMPLATE("backends agree: attention forward and backward (lengths, causal, dropout)", T, AGREE_DTYPES) {
  Agreement ag;
  const DType dt = hpct::dtype_of<T>();
  const std::int64_t n = 3, len = 19, heads = 2, dh = 8, d = heads * dh;
  const auto qkv = rand_host<T>(Shape{n, len, 3 * d}, 40, -1.5, 1.5), dout = rand_host<T>(Shape{n, len, d}, 41);
  const auto lengths = ints(Shape{n}, {len, 7, 1});
  Host<std::int64_t> row_ids(Shape{n});
  for (std::int64_t i = 0; i < n; ++i) row_ids[i] = 1000 - 333 * i;
  struct Variant {
    const char* name;
    bool lengths, causal;
    double p;
    bool row_keys = false;
  };
  for (const Variant v : {Variant{"all keys", false, false, 0.0}, Variant{"lengths", true, false, 0.0},
                          Variant{"causal", false, true, 0.0}, Variant{"dropout", false, false, 0.2},
                          Variant{"lengths causal dropout", true, true, 0.2},
                          Variant{"lengths causal dropout row keys", true, true, 0.2, true}})
    ag.check(std::string("attention ") + v.name, dt, [&](Run& r) {
      AttentionArgs args;
      args.heads = heads;
      if (v.lengths) args.lengths = r.in(lengths);
      if (v.row_keys) args.row_ids = r.in(row_ids);
      args.causal = v.causal;
      args.dropout_p = v.p;
      args.seed = 9;
      args.stream = 4;
      run_attention(r, qkv, dout, args);
    });
  // Rows longer than a GPU kernel's thread block (a query row per block of 128 threads strides its keys)
  // and a head wider than a warp, with padding, causality and dropout together.
  const std::int64_t ln = 2, ll = 150, ld = 2 * 40;
  const auto lqkv = rand_host<T>(Shape{ln, ll, 3 * ld}, 42, -1.5, 1.5), ldout = rand_host<T>(Shape{ln, ll, ld}, 43);
  const auto llengths = ints(Shape{ln}, {ll, 131});
  ag.check("attention long rows (lengths causal dropout)", dt, [&](Run& r) {
    AttentionArgs args;
    args.heads = 2;
    args.lengths = r.in(llengths);
    args.causal = true;
    args.dropout_p = 0.1;
    args.seed = 3;
    run_attention(r, lqkv, ldout, args);
  });
}

TEST_CASE_TEMPLATE("backends agree: embedding, feature tokens, mean pooling", T, AGREE_DTYPES) {
  Agreement ag;
  const DType dt = hpct::dtype_of<T>();
  // Embedding: repeated ids (the backward sums positions in order), enough positions to go parallel.
  const std::int64_t vocab = 50, width = 40, n = 16, len = 60;
  Host<std::int32_t> ids(Shape{n, len});
  for (std::int64_t i = 0; i < ids.n(); ++i) ids[i] = static_cast<std::int32_t>((i * 31 + i / 7) % vocab);
  const auto table = rand_host<T>(Shape{vocab, width}, 50), dout = rand_host<T>(Shape{n, len, width}, 51);
  const auto dtable = rand_host<T>(Shape{vocab, width}, 52);
  ag.check("embedding forward", dt,
           [&](Run& r) { r.be.embedding_forward(r.in(ids), r.in(table), r.out<T>(Shape{n, len, width}, "out")); });
  ag.check("embedding backward", dt,
           [&](Run& r) { r.be.embedding_backward(r.in(ids), r.in(dout), r.inout(dtable, "dtable")); });
  // Feature tokens.
  const std::int64_t samples = 300, features = 7, dm = 24;
  const auto x = rand_host<T>(Shape{samples, features}, 53), w = rand_host<T>(Shape{features, dm}, 54);
  const auto b = rand_host<T>(Shape{features, dm}, 55), dtok = rand_host<T>(Shape{samples, features, dm}, 56);
  ag.check("feature_tokens forward", dt, [&](Run& r) {
    r.be.feature_tokens_forward(r.in(x), r.in(w), r.in(b), r.out<T>(Shape{samples, features, dm}, "out"));
  });
  for (const bool with_dx : {true, false})
    ag.check(with_dx ? "feature_tokens backward" : "feature_tokens backward without dx", dt, [&](Run& r) {
      const Tensor dx = with_dx ? r.out<T>(Shape{samples, features}, "dx") : Tensor{};
      r.be.feature_tokens_backward(r.in(x), r.in(w), r.in(dtok), dx, r.inout(w, "dw"), r.inout(b, "db"));
    });
  // Mean pooling, with and without lengths.
  const std::int64_t pn = 5, pl = 13, pd = 24;
  const auto seq = rand_host<T>(Shape{pn, pl, pd}, 57), dpool = rand_host<T>(Shape{pn, pd}, 58);
  const auto plen = ints(Shape{pn}, {13, 1, 7, 4, 12});
  for (const bool with_lengths : {false, true})
    ag.check(with_lengths ? "mean_pool with lengths" : "mean_pool", dt, [&](Run& r) {
      const Tensor l = with_lengths ? r.in(plen) : Tensor{};
      r.be.mean_pool_forward(r.in(seq), l, r.out<T>(Shape{pn, pd}, "out"));
      r.be.mean_pool_backward(r.in(dpool), l, r.out<T>(Shape{pn, pl, pd}, "dx"));
    });
}

TEST_CASE_TEMPLATE("backends agree: conv1d and conv_transpose1d forward, backward-data, backward-filter", T,
                   AGREE_DTYPES) {
  Agreement ag;
  const DType dt = hpct::dtype_of<T>();
  // A dilated "same" conv and a strided one (with and without lengths), and the U-Net's up-sampling.
  const std::int64_t n = 5, len = 24, ci = 6, co = 8;
  const auto x = rand_host<T>(Shape{n, len, ci}, 70), bias = rand_host<T>(Shape{co}, 71);
  const auto w = rand_host<T>(Shape{co, ci, 5}, 72), dwt = rand_host<T>(Shape{ci, co, 2}, 73);
  const auto clen = ints(Shape{n}, {24, 1, 7, 13, 20});
  for (const std::int64_t stride : {1, 2})
    for (const bool with_lengths : {false, true}) {
      Conv1dArgs a;
      a.stride = stride;
      a.dilation = stride == 1 ? 2 : 1;
      a.padding = 2 * a.dilation;
      const std::int64_t lo = (len + 2 * a.padding - a.dilation * 4 - 1) / stride + 1;
      const auto dy = rand_host<T>(Shape{n, lo, co}, 74);
      ag.check(hpct::cat("conv1d stride ", stride, with_lengths ? " with lengths" : ""), dt, [&](Run& r) {
        Conv1dArgs ra = a;
        if (with_lengths) ra.lengths = r.in(clen);
        r.be.conv1d_forward(r.in(x), r.in(w), r.in(bias), r.out<T>(Shape{n, lo, co}, "y"), ra);
        r.be.conv1d_backward_data(r.in(dy), r.in(w), r.out<T>(Shape{n, len, ci}, "dx"), ra);
        r.be.conv1d_backward_filter(r.in(x), r.in(dy), r.inout(w, "dw"), r.inout(bias, "db"), ra);
      });
    }
  const auto ybig = rand_host<T>(Shape{n, 2 * len, co}, 75);
  ag.check("conv_transpose1d stride 2 with lengths", dt, [&](Run& r) {
    Conv1dArgs ra;
    ra.stride = 2;
    ra.lengths = r.in(clen);
    r.be.conv_transpose1d_forward(r.in(x), r.in(dwt), r.in(bias), r.out<T>(Shape{n, 2 * len, co}, "y"), ra);
    r.be.conv_transpose1d_backward_data(r.in(ybig), r.in(dwt), r.out<T>(Shape{n, len, ci}, "dx"), ra);
    r.be.conv_transpose1d_backward_filter(r.in(x), r.in(ybig), r.inout(dwt, "dw"), r.inout(bias, "db"), ra);
  });
}

TEST_CASE_TEMPLATE("backends agree: losses (lengths, ignored labels, mean, grad_scale, grad_multiplier)", T,
                   AGREE_DTYPES) {
  Agreement ag;
  const DType dt = hpct::dtype_of<T>();
  const std::int64_t n = 8, len = 70, tcols = 16, classes = 33;  // 560 rows: several chunks of the loss sums
  const auto lengths = ints(Shape{n}, {70, 1, 35, 69, 2, 70, 10, 50});
  Host<std::int32_t> labels(Shape{n, len});
  for (std::int64_t i = 0; i < labels.n(); ++i)
    labels[i] = i % 5 == 2 ? kIgnoreLabel : static_cast<std::int32_t>((i * 13 + 1) % classes);
  const auto acc0 = scalars({10.0, 3.0}), multiplier = scalars({1024.0});
  enum class Kind { mse, gaussian, bce, ce };
  for (const Kind kind : {Kind::mse, Kind::gaussian, Kind::bce, Kind::ce}) {
    const char* name = kind == Kind::mse ? "mse"
                       : kind == Kind::gaussian ? "gaussian_nll"
                       : kind == Kind::bce ? "bce_logits"
                                           : "softmax_ce";
    const std::int64_t tc = kind == Kind::ce ? classes : tcols, pc = kind == Kind::gaussian ? 2 * tc : tc;
    const Shape ps{n, len, pc}, ts{n, len, tc};
    const auto pred = rand_host<T>(ps, 60, -3.0, 3.0);
    const auto target = rand_host<T>(ts, 61, kind == Kind::bce ? 0.0 : -2.0, 1.0);
    struct Variant {
      const char* name;
      bool masked, mean, multiplier, grad;
      double grad_scale;
    };
    for (const Variant v : {Variant{"plain", false, false, false, true, 1.0},
                            Variant{"masked, mean, grad_scale, grad_multiplier", true, true, true, true, 0.5},
                            Variant{"masked, sum only (no dpred)", true, false, false, false, 1.0},
                            Variant{"grad_multiplier, no mask", false, false, true, true, 2.0}})
      ag.check(std::string(name) + " " + v.name, dt, [&](Run& r) {
        LossArgs args;
        // ce masks by kIgnoreLabel; the float losses by lengths (plain: every row counts).
        if (v.masked && kind != Kind::ce) args.lengths = r.in(lengths);
        args.mean = v.mean;
        args.grad_scale = v.grad_scale;
        if (v.multiplier) args.grad_multiplier = r.in(multiplier);
        const Tensor p = r.in(pred), acc = r.inout(acc0, "acc");
        const Tensor dp = v.grad ? r.out<T>(ps, "dpred") : Tensor{};
        switch (kind) {
          case Kind::mse: r.be.mse_loss(p, r.in(target), dp, args, acc); break;
          case Kind::gaussian: r.be.gaussian_nll_loss(p, r.in(target), dp, args, acc); break;
          case Kind::bce: r.be.bce_logits_loss(p, r.in(target), dp, args, acc); break;
          case Kind::ce: {
            Host<std::int32_t> lab = labels;
            if (!v.masked)
              for (auto& l : lab.v) l = l == kIgnoreLabel ? 0 : l;
            r.be.softmax_ce_loss(p, r.in(lab), dp, args, acc);
            break;
          }
        }
      });
  }
}

TEST_CASE_TEMPLATE("backends agree: scale_by", T, AGREE_DTYPES) {
  Agreement ag;
  const auto x = rand_host<T>(Shape{70'001}, 70, -10.0, 10.0);
  const auto factor = scalars({-0.37});
  ag.check("scale_by", hpct::dtype_of<T>(), [&](Run& r) { r.be.scale_by(r.inout(x, "x"), r.in(factor)); });
}

TEST_CASE("backends agree: step_control and update_loss_scale") {
  Agreement ag;
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  const auto acc = scalars({123.0, 40.0}), ctl0 = scalars({0.0, 0.0, 4.0, 0.0});
  struct Variant {
    const char* name;
    StepControlArgs args;
    double count, sumsq, scale;  // sumsq, scale NaN: not passed (an empty tensor)
  };
  const Variant variants[] = {
      {"clip, check, loss scale", {3.0, 0.5, true}, 40.0, 2.5, 1024.0},
      {"clip not reached", {3.0, 100.0, true}, 40.0, 2.5, 1024.0},
      {"no sumsq, no loss scale", {1.0, 0.0, false}, 7.0, nan, nan},
      {"non-finite sumsq: skip", {1.0, 1.0, true}, 7.0, inf, 8.0},
      {"non-finite sumsq unchecked", {1.0, 0.0, false}, 7.0, inf, nan},
      {"count 0", {2.0, 1.0, true}, 0.0, 9.0, nan},
  };
  for (const Variant& v : variants)
    ag.check(std::string("step_control ") + v.name, DType::f64, [&](Run& r) {
      const Tensor count = v.count == 40.0 ? r.in(acc).flat_range(1, 1) : r.in(scalars({v.count}));
      const Tensor sumsq = std::isnan(v.sumsq) ? Tensor{} : r.in(scalars({v.sumsq}));
      const Tensor scale = std::isnan(v.scale) ? Tensor{} : r.in(scalars({v.scale}));
      r.be.step_control(v.args, count, sumsq, scale, r.inout(ctl0, "control"));
    });
  // A run of the scaler through growth, backoffs and recovery; and without fp16 (growth = backoff = 1).
  const auto good = scalars({0.5, 0.0, 7.0, 3.0}), skipped = scalars({0.5, 1.0, 9.0, 3.0});
  const auto state0 = scalars({1024.0, 0.0, 0.0, -1.0, -1.0, 0.0, 0.0});
  for (const LossScaleArgs args : {LossScaleArgs{2.0, 0.5, 3}, LossScaleArgs{1.0, 1.0, 1}})
    ag.check("update_loss_scale growth " + std::to_string(args.growth), DType::f64, [&](Run& r) {
      const Tensor state = r.inout(state0, "state"), g = r.in(good), s = r.in(skipped);
      for (const Tensor* c : {&g, &g, &g, &g, &s, &s, &g, &g, &g}) r.be.update_loss_scale(args, *c, state);
    });
}

TEST_CASE_TEMPLATE("backends agree: adamw_step and sgd_step (16-bit with master weights, f32/f64 without)", T,
                   AGREE_DTYPES) {
  using M = Wide<T>;
  Agreement ag;
  const DType dt = hpct::dtype_of<T>();
  const bool half = hpct::is_half(dt);  // 16-bit params need master weights; f32/f64 params take none
  const std::int64_t n = 20'011;        // several parallel blocks
  const auto master0 = rand_host<M>(Shape{n}, 80);
  const auto p0 = convert_host<T>(master0);  // params = round(master)
  // One declaration each: T and M differ for 16-bit T (clang rejects one `auto` deducing two types).
  const auto g = rand_host<T>(Shape{n}, 81);
  const auto m0 = rand_host<M>(Shape{n}, 82, -0.1, 0.1);
  const auto v0 = rand_host<M>(Shape{n}, 83, 0.0, 0.01);
  const auto step3 = scalars({0.5, 0.0, 3.0, 0.0}), step1 = scalars({1.0, 0.0, 1.0, 0.0});
  const auto skip = scalars({0.5, 1.0, 3.0, 0.0});
  const auto master = [&](Run& r) { return half ? r.inout(master0, "master") : Tensor{}; };
  AdamWParams ah;
  ah.lr = 0.01;
  ah.weight_decay = 0.1;
  for (const auto* ctl : {&step3, &step1, &skip}) {
    const std::string c = ctl == &step3 ? " step 3" : ctl == &step1 ? " step 1" : " skipped";
    ag.check("adamw_step" + c, dt, [&](Run& r) {
      r.be.adamw_step(r.inout(p0, "params"), master(r), r.in(g), r.inout(m0, "m"), r.inout(v0, "v"), ah, r.in(*ctl));
    });
  }
  struct SgdVariant {
    const char* name;
    SgdParams hp;
    const Host<double>* control;
  };
  for (const SgdVariant& v : {SgdVariant{"plain", {0.1, 0.0, 0.0, false}, &step3},
                              SgdVariant{"weight decay", {0.1, 0.0, 0.01, false}, &step3},
                              SgdVariant{"momentum, first step", {0.1, 0.9, 0.0, false}, &step1},
                              SgdVariant{"momentum", {0.1, 0.9, 0.01, false}, &step3},
                              SgdVariant{"nesterov", {0.1, 0.9, 0.01, true}, &step3},
                              SgdVariant{"momentum, skipped", {0.1, 0.9, 0.01, false}, &skip}})
    ag.check(std::string("sgd_step ") + v.name, dt, [&](Run& r) {
      const Tensor buf = v.hp.momentum > 0 ? r.inout(m0, "momentum_buf") : Tensor{};
      r.be.sgd_step(r.inout(p0, "params"), master(r), r.in(g), buf, v.hp, r.in(*v.control));
    });
}

// A training step of dependent ops with no host wait in between: each op reads what the one before
// wrote on the device, the losses accumulate into one device accumulator, step_control reads its count
// and the gradient norm from device scalars, and adamw_step its control. Only the final outputs are
// read, and the run checks that the backend waited on the host exactly once per read (Agreement::run):
// none of the 20-odd ops, uploads or fills waited.
TEST_CASE_TEMPLATE("backends agree: a dependent chain (forward, losses, backward, optimizer) with no host wait", T,
                   AGREE_DTYPES) {
  using S = Wide<T>;
  Agreement ag;
  const DType dt = hpct::dtype_of<T>();
  const bool half = hpct::is_half(dt);
  const std::int64_t rows = 96, in_width = 40, hidden = 64;
  const auto x = rand_host<T>(Shape{rows, in_width}, 90);
  const auto w32 = rand_host<S>(Shape{in_width, hidden}, 91, -0.3, 0.3);
  const auto w0 = convert_host<T>(w32), bias = rand_host<T>(Shape{hidden}, 92);
  const auto gamma = rand_host<T>(Shape{hidden}, 93, 0.5, 1.5), beta = rand_host<T>(Shape{hidden}, 94);
  const auto target = rand_host<T>(Shape{rows, hidden}, 95, 0.0, 0.05);
  Host<std::int32_t> labels(Shape{rows});
  for (std::int64_t i = 0; i < rows; ++i)
    labels[i] = i % 7 == 3 ? kIgnoreLabel : static_cast<std::int32_t>((i * 11) % hidden);
  const auto zeros_acc = scalars({0.0, 0.0}), zeros_ctl = scalars({0.0, 0.0, 0.0, 0.0});
  const Host<T> zeros_h(Shape{hidden}, T{});
  const Host<S> zeros_w(Shape{in_width, hidden}, S{});
  ag.check("chain", dt, [&](Run& r) {
    const Shape act{rows, hidden};
    const Tensor xd = r.in(x), w = r.inout(w0, "w"), g = r.in(gamma), acc = r.inout(zeros_acc, "acc");
    const Tensor pre = r.scratch<T>(act), a = r.scratch<T>(act), ln = r.scratch<T>(act), sm = r.scratch<T>(act);
    const Tensor mean = r.scratch<S>(Shape{rows}), rstd = r.scratch<S>(Shape{rows});
    // Forward, and two losses into one accumulator.
    r.be.gemm_bias_act(xd, false, w, false, r.in(bias), Activation::gelu_tanh, pre, a);
    r.be.layernorm_forward(a, g, r.in(beta), ln, mean, rstd, 1e-5);
    r.be.softmax_forward(ln, sm);
    LossArgs args;
    args.mean = true;
    const Tensor dsm = r.scratch<T>(act), dln = r.scratch<T>(act);
    r.be.mse_loss(sm, r.in(target), dsm, args, acc);
    r.be.softmax_ce_loss(ln, r.in(labels), dln, args, acc);  // dln: the ce gradient ...
    // Backward: ... plus softmax's backward of the mse gradient.
    const Tensor dln2 = r.scratch<T>(act), da = r.scratch<T>(act), dpre = r.scratch<T>(act);
    r.be.softmax_backward(sm, dsm, dln2);
    r.be.axpy(1.0, dln2, dln);
    const Tensor dgamma = r.in(zeros_h), dbeta = r.in(zeros_h), dbias = r.in(zeros_h);
    r.be.layernorm_backward(a, g, mean, rstd, dln, da, dgamma, dbeta);
    r.be.activation_bias_grad(Activation::gelu_tanh, pre, da, dpre, dbias);
    const Tensor dw = r.scratch<T>(Shape{in_width, hidden});
    r.be.gemm(xd, true, dpre, false, dw);  // dW = x^T dpre
    // The step: the gradient norm, the control scalars from the accumulator's count, AdamW.
    const Tensor sumsq = r.scratch<double>(Shape{1}), control = r.inout(zeros_ctl, "control");
    r.be.sum_squares(dw, sumsq);
    r.be.step_control({static_cast<double>(rows), 0.5, true}, acc.flat_range(1, 1), sumsq, Tensor{}, control);
    AdamWParams hp;
    hp.lr = 0.01;
    r.be.adamw_step(w, half ? r.inout(w32, "master") : Tensor{}, dw, r.inout(zeros_w, "m"), r.inout(zeros_w, "v"),
                    hp, control);
    // The updated weights feed a second forward: the next step's, still without a wait.
    r.be.gemm_bias_act(xd, false, w, false, r.in(bias), Activation::gelu_tanh, r.out<T>(act, "pre after the step"),
                       r.out<T>(act, "act after the step"));
  });
}

TEST_CASE_TEMPLATE("backends agree: ssvae kernels (class_concat, normal_fill, reparam, objective)", T, float, double) {
  Agreement ag;
  const DType dt = hpct::dtype_of<T>();
  const std::int64_t n = 9, f = 11, classes = 4, k = 3, rows = n * classes;
  const auto a = rand_host<T>(Shape{n, f}, 80), dexp = rand_host<T>(Shape{rows, f + classes}, 81);
  const auto z = rand_host<T>(Shape{rows, k}, 82), dz_cat = rand_host<T>(Shape{rows, k + classes}, 83);
  for (const bool expand : {true, false})
    ag.check(expand ? "class_concat expand" : "class_concat", dt, [&](Run& r) {
      const Tensor src = expand ? r.in(a) : r.in(z);
      const std::int64_t width = expand ? f : k;
      r.be.class_concat_forward(src, classes, expand, r.out<T>(Shape{rows, width + classes}, "out"));
      r.be.class_concat_backward(expand ? r.in(dexp) : r.in(dz_cat), classes, expand,
                                 r.out<T>(Shape{expand ? n : rows, width}, "da"));
    });
  ag.check("normal_fill", dt, [&](Run& r) { r.be.normal_fill(r.out<T>(Shape{1001}, "out"), 5, 77); });
  Host<std::int64_t> noise_rows(Shape{n});
  for (std::int64_t i = 0; i < n; ++i) noise_rows[i] = (i * 37) % 11 + (i == 4 ? 1'000'000 : 0);
  ag.check("normal_fill row keys", dt, [&](Run& r) {
    r.be.normal_fill(r.out<T>(Shape{rows, k}, "out"), 5, 77, r.in(noise_rows));
  });
  const auto enc = rand_host<T>(Shape{rows, 2 * k}, 84, -1.5, 1.5), eps = rand_host<T>(Shape{rows, k}, 85);
  const auto dz = rand_host<T>(Shape{rows, k}, 86), denc = rand_host<T>(Shape{rows, 2 * k}, 87);
  ag.check("reparam forward and backward", dt, [&](Run& r) {
    r.be.reparam_forward(r.in(enc), r.in(eps), r.out<T>(Shape{rows, k}, "z"));
    r.be.reparam_backward(r.in(enc), r.in(eps), r.in(dz), r.inout(denc, "denc"));
  });
  const auto x = rand_host<T>(Shape{n, f}, 88, 0.0, 1.0), logits = rand_host<T>(Shape{n, classes}, 89, -2.0, 2.0);
  const auto recon = rand_host<T>(Shape{rows, f}, 90, -3.0, 3.0);
  const auto labels = ints(Shape{n}, {0, -1, 3, -1, -1, 2, 1, -1, 0});
  const auto acc0 = scalars({1.0, 2.0}), multiplier = scalars({8.0});
  for (const bool gaussian : {false, true})
    for (const bool grads : {true, false})
      ag.check(std::string("ssvae_objective ") + (gaussian ? "gaussian" : "bernoulli") + (grads ? "" : " (no gradients)"),
               dt, [&](Run& r) {
        SsvaeArgs s;
        s.alpha = 2.5;
        s.gaussian = gaussian;
        LossArgs args;
        args.grad_scale = 0.25;
        args.grad_multiplier = r.in(multiplier);
        r.be.ssvae_objective(r.in(x), r.in(logits), r.in(labels), r.in(enc), r.in(recon), s, args,
                             r.inout(acc0, "acc"), grads ? r.out<T>(Shape{n, classes}, "dlogits") : Tensor{},
                             grads ? r.out<T>(Shape{rows, 2 * k}, "denc") : Tensor{},
                             grads ? r.out<T>(Shape{rows, f}, "drecon") : Tensor{});
      });
}

// ================================================================================================
// Values only a kernel sees (device memory): the CUDA kernels report them and the next wait throws,
// naming what was wrong; the backend then runs ops again. CUDA only (tests/gpu/agreement.sh).
TEST_CASE("backends agree: CUDA kernels report bad ids, lengths and labels at the next wait") {
  const char* cuda = std::getenv("HPCTRAIN_TEST_CUDA");
  if (!cuda || !*cuda || std::string(cuda) == "0") return;
  auto be = make_backend("cuda", kThreads);
  const auto expect_error = [&](const char* what, const std::string& needle) {
    INFO(what);
    std::string msg;
    try {
      be->synchronize();
    } catch (const hpct::Error& e) {
      msg = e.what();
    }
    INFO("message: " << msg);
    CHECK(msg.find(needle) != std::string::npos);
  };
  const auto upload = [&](Buffer& b, std::vector<std::int32_t> v) {
    be->copy(b, Tensor(v.data(), b.tensor().shape, DType::i32));
    be->synchronize();
  };
  Buffer ids(be->allocator(), Shape{2}, DType::i32), table(be->allocator(), Shape{3, 4}, DType::f32),
      out(be->allocator(), Shape{2, 4}, DType::f32);
  be->fill(table, 0.5);
  upload(ids, {0, 7});
  be->embedding_forward(ids, table, out);
  expect_error("embedding_forward", "ids at flat position 1 = 7 is outside [0, 3)");
  be->embedding_backward(ids, out, table);
  expect_error("embedding_backward", "ids at flat position 1 = 7 is outside [0, 3)");

  Buffer qkv(be->allocator(), Shape{2, 3, 6}, DType::f32), att(be->allocator(), Shape{2, 3, 2}, DType::f32),
      lengths(be->allocator(), Shape{2}, DType::i32);
  AttentionArgs args;
  args.lengths = lengths;
  Buffer saved(be->allocator(), be->attention_saved_shape(Shape{2, 3, 6}, DType::f32, args),
               be->attention_saved_dtype(Shape{2, 3, 6}, DType::f32, args));
  be->fill(qkv, 0.25);
  upload(lengths, {3, 0});
  be->attention_forward(qkv, att, saved, args);
  expect_error("attention_forward", "sequence 1 has length 0");

  Buffer x(be->allocator(), Shape{2, 3}, DType::f32), logits(be->allocator(), Shape{2, 2}, DType::f32),
      labels(be->allocator(), Shape{2}, DType::i32), enc(be->allocator(), Shape{4, 2}, DType::f32),
      recon(be->allocator(), Shape{4, 3}, DType::f32), acc(be->allocator(), Shape{2}, DType::f64);
  for (Buffer* b : {&x, &logits, &enc, &recon, &acc}) be->fill(*b, 0.0);
  upload(labels, {1, 5});
  be->ssvae_objective(x, logits, labels, enc, recon, SsvaeArgs{}, LossArgs{}, acc, Tensor{}, Tensor{}, Tensor{});
  expect_error("ssvae_objective", "label 5 of row 1 is out of range [0, 2)");
  CHECK(be->read<float>(table).size() == 12);  // reported, the errors are cleared: ops run again
}
