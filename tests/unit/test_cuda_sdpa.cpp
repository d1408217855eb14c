// The CUDA backend's two attention paths against each other: cuDNN's fused SDPA (kernels/cuda/cuda_sdpa.cpp)
// and our own kernels (cuda_attention.cu, the reference; HPCTRAIN_CUDNN_SDPA=0 when the backend first
// attends), forward and backward, bf16 and f16, with key padding and causality. CUDA only: runs when
// HPCTRAIN_TEST_CUDA is set (tests/gpu/sdpa.sh, which skips where no GPU is usable).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "core/buffer.hpp"
#include "core/half.hpp"
#include "core/tensor.hpp"
#include "kernel_test_support.hpp"
#include "kernels/kernels.hpp"

using hpct::Buffer;
using hpct::DType;
using hpct::Shape;
using hpct::Tensor;
using hpct::kernels::AttentionArgs;
using hpct::kernels::Backend;
using hpct::test::as_double;
using hpct::test::Host;
using hpct::test::rand_host;

namespace {

bool cuda_tests() {
  const char* cuda = std::getenv("HPCTRAIN_TEST_CUDA");
  return cuda && *cuda && std::string(cuda) != "0";
}

// A CUDA backend whose attention path is fixed by HPCTRAIN_CUDNN_SDPA at its first attention query.
std::unique_ptr<Backend> cuda_backend(bool sdpa, const Shape& qkv, DType dt, const AttentionArgs& args) {
  if (sdpa) unsetenv("HPCTRAIN_CUDNN_SDPA");
  else setenv("HPCTRAIN_CUDNN_SDPA", "0", 1);
  auto be = hpct::kernels::make_backend("cuda");
  be->attention_saved_shape(qkv, dt, args);  // creates its SDPA state, reading the variable
  unsetenv("HPCTRAIN_CUDNN_SDPA");
  return be;
}

struct Outputs {
  std::vector<double> out, dqkv;
};

// Forward then backward on be; outputs start as NaN, so an element neither pass writes shows.
template <class T>
Outputs run(Backend& be, Host<T> qkv, Host<T> dout, Host<std::int32_t> lengths, AttentionArgs args) {
  const DType dt = hpct::dtype_of<T>();
  const Shape out_shape = dout.shape;
  Buffer q(be.allocator(), qkv.shape, dt), o(be.allocator(), out_shape, dt), dq(be.allocator(), qkv.shape, dt),
      d(be.allocator(), out_shape, dt), lens(be.allocator(), lengths.shape, DType::i32);
  be.copy(q.tensor(), qkv.t());
  be.copy(d.tensor(), dout.t());
  if (!args.lengths.empty()) {
    be.copy(lens.tensor(), lengths.t());
    args.lengths = lens.tensor();
  }
  Buffer saved(be.allocator(), be.attention_saved_shape(qkv.shape, dt, args),
               be.attention_saved_dtype(qkv.shape, dt, args));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  be.fill(o.tensor(), nan);
  be.fill(dq.tensor(), nan);
  be.attention_forward(q.tensor(), o.tensor(), saved.tensor(), args);
  be.attention_backward(q.tensor(), o.tensor(), saved.tensor(), d.tensor(), dq.tensor(), args);
  Outputs r;
  for (const T x : be.read<T>(o.tensor())) r.out.push_back(as_double(x));
  for (const T x : be.read<T>(dq.tensor())) r.dqkv.push_back(as_double(x));
  return r;
}

// max |a - b| over max |b|, b the reference; infinite where either has a non-finite element.
double relative_error(const std::vector<double>& a, const std::vector<double>& b) {
  double diff = 0.0, scale = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(b[i])) return std::numeric_limits<double>::infinity();
    diff = std::max(diff, std::abs(a[i] - b[i]));
    scale = std::max(scale, std::abs(b[i]));
  }
  return scale > 0.0 ? diff / scale : diff;
}

struct SdpaCase {
  std::int64_t batch, len, heads, dh;
  bool padded, causal;
};

}  // namespace

TEST_CASE_TEMPLATE("cuda attention: cuDNN SDPA against our kernels (padding, causal)", T, hpct::bf16, hpct::f16) {
  if (!cuda_tests()) return;
  const DType dt = hpct::dtype_of<T>();
  // Half precision both ways: cuDNN rounds P and dS to 16 bits before its products, ours keeps them in
  // f32, so the outputs differ by a few units of the storage type: out within 1, dqkv within 2 of
  // half_tolerance (bf16 2^-6, f16 2^-9) of the largest magnitude.
  const double tol = hpct::test::half_tolerance<T>();
  for (const SdpaCase c : {SdpaCase{3, 70, 2, 64, true, false}, SdpaCase{3, 70, 2, 64, false, true},
                           SdpaCase{3, 70, 2, 64, true, true}, SdpaCase{2, 128, 4, 32, false, false},
                           SdpaCase{4, 33, 1, 8, true, true}}) {
    CAPTURE(c.batch);
    CAPTURE(c.len);
    CAPTURE(c.heads);
    CAPTURE(c.dh);
    CAPTURE(c.padded);
    CAPTURE(c.causal);
    const std::int64_t d = c.heads * c.dh;
    const Shape qkv_shape{c.batch, c.len, 3 * d};
    const auto qkv = rand_host<T>(qkv_shape, 7, -1.5, 1.5);
    const auto dout = rand_host<T>(Shape{c.batch, c.len, d}, 8);
    Host<std::int32_t> lengths(Shape{c.batch});
    for (std::int64_t n = 0; n < c.batch; ++n)  // the full length, then shorter ones down to 1
      lengths[n] = static_cast<std::int32_t>(n == 0 ? c.len : std::max<std::int64_t>(1, c.len / (n + 1) - n));
    lengths[c.batch - 1] = 1;
    AttentionArgs args;
    args.heads = c.heads;
    args.causal = c.causal;
    if (c.padded) args.lengths = lengths.t();  // a placeholder: run() puts the device copy in

    auto sdpa = cuda_backend(true, qkv_shape, dt, args);
    auto ours = cuda_backend(false, qkv_shape, dt, args);
    // SDPA really runs the call (its saved state is the statistics), and ours keeps the probabilities.
    REQUIRE(sdpa->attention_saved_shape(qkv_shape, dt, args) == Shape({c.batch, c.heads, c.len}));
    REQUIRE(ours->attention_saved_shape(qkv_shape, dt, args) == Shape({c.batch, c.heads, c.len, c.len}));

    const Outputs a = run(*sdpa, qkv, dout, lengths, args), b = run(*ours, qkv, dout, lengths, args);
    const double out_err = relative_error(a.out, b.out), dqkv_err = relative_error(a.dqkv, b.dqkv);
    CAPTURE(out_err);
    CAPTURE(dqkv_err);
    CHECK(out_err <= tol);
    CHECK(dqkv_err <= 2 * tol);
    // Masked keys: dK = dV = 0 exactly.
    if (c.padded) {
      for (std::int64_t n = 0; n < c.batch; ++n)
        for (std::int64_t j = lengths[n]; j < c.len; ++j)
          for (std::int64_t col = d; col < 3 * d; ++col)
            REQUIRE(a.dqkv[static_cast<std::size_t>((n * c.len + j) * 3 * d + col)] == 0.0);
    }
  }
}

TEST_CASE("cuda attention: fp32, attention dropout and odd head widths keep our kernels") {
  if (!cuda_tests()) return;
  const auto be = hpct::kernels::make_backend("cuda");
  AttentionArgs args;
  args.heads = 2;
  const Shape qkv{2, 16, 3 * 2 * 64};
  CHECK(be->attention_saved_shape(qkv, DType::bf16, args) == Shape({2, 2, 16}));
  CHECK(be->attention_saved_shape(qkv, DType::f32, args) == Shape({2, 2, 16, 16}));
  args.dropout_p = 0.1;
  CHECK(be->attention_saved_shape(qkv, DType::bf16, args) == Shape({2, 2, 16, 16}));
  args.dropout_p = 0.0;
  CHECK(be->attention_saved_shape(Shape{2, 16, 3 * 2 * 12}, DType::f16, args) == Shape({2, 2, 16, 16}));
}
