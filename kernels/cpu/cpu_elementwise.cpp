// CpuBackend: bias, activations and dropout, elementwise over row-major tensors.
#include <cstdint>
#include <vector>

#include "core/philox.hpp"
#include "kernels/common/math.hpp"
#include "kernels/cpu/cpu_activation.hpp"
#include "kernels/cpu/cpu_backend.hpp"
#include "kernels/cpu/cpu_common.hpp"
#include "kernels/cpu/cpu_vmath.hpp"

namespace hpct::kernels {
namespace {

// y[i] = keep(i) ? x[i] / (1 - p) : 0, keep(i) = philox_uniform(seed, stream, i) >= p. One Philox call
// yields the bits of 4 consecutive elements (its 4 lanes), as philox_uniform defines.
template <class T>
void dropout_apply(int threads, const T* x, T* y, std::int64_t n, double p, std::uint64_t seed,
                   std::uint64_t stream) {
  const std::uint32_t threshold = math::dropout_threshold(p);
  const T keep_prob = static_cast<T>(1.0 - p);
  cpu::parallel_blocks(threads, n, cpu::kGrainMath, [=](std::int64_t b, std::int64_t e) {
    std::int64_t i = b;
    while (i < e) {
      const std::uint64_t group = static_cast<std::uint64_t>(i) / 4;
      const U32x4 r = philox4x32(seed, group, stream);
      const std::int64_t group_end = std::min<std::int64_t>(e, static_cast<std::int64_t>(group * 4 + 4));
      for (; i < group_end; ++i)
        y[i] = math::dropout_keep(r.v[i % 4], threshold) ? x[i] / keep_prob : T(0);
    }
  });
}

void check_dropout(const char* k, const Tensor& in, const char* in_name, const Tensor& out, const char* out_name,
                   double p) {
  cpu::check_float(k, in_name, in);
  cpu::check_like(k, in_name, in, out_name, out);
  HPCT_CHECK(p >= 0.0 && p < 1.0, k, ": drop probability p = ", p, " is outside [0, 1)");
}

}  // namespace

// y[r, c] += bias[c]
void CpuBackend::bias_add(const Tensor& y, const Tensor& bias) {
  constexpr const char* k = "bias_add";
  cpu::check_float(k, "y", y);
  const std::int64_t rows = y.rows(), cols = y.cols();
  cpu::check_vector(k, "y", y, "bias", bias, cols, "the columns");
  cpu::dispatch_float(k, y.dtype, [&](auto zero) {
    using T = decltype(zero);
    T* yp = y.as<T>();
    const T* bp = bias.as<T>();
    cpu::parallel_blocks(threads_, rows, cpu::rows_per_block(cols, cpu::kGrainCheap),
                         [=](std::int64_t r0, std::int64_t r1) {
                           for (std::int64_t r = r0; r < r1; ++r) {
                             T* row = yp + r * cols;
                             for (std::int64_t c = 0; c < cols; ++c) row[c] += bp[c];
                           }
                         });
  });
}

// dbias[c] += sum_r dy[r, c]: double partial sums over fixed row chunks, added in chunk order.
void CpuBackend::bias_grad(const Tensor& dy, const Tensor& dbias) {
  constexpr const char* k = "bias_grad";
  cpu::check_float(k, "dy", dy);
  const std::int64_t rows = dy.rows(), cols = dy.cols();
  cpu::check_vector(k, "dy", dy, "dbias", dbias, cols, "the columns");
  cpu::dispatch_float(k, dy.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* g = dy.as<T>();
    T* db = dbias.as<T>();
    std::vector<double> sums;
    cpu::chunked_column_sums(threads_, rows, cpu::rows_per_block(cols, cpu::kReduceChunk), cols, sums,
                             [=](std::int64_t r0, std::int64_t r1, double* acc) {
                               for (std::int64_t r = r0; r < r1; ++r) {
                                 const T* row = g + r * cols;
                                 for (std::int64_t c = 0; c < cols; ++c) acc[c] += static_cast<double>(row[c]);
                               }
                             });
    for (std::int64_t c = 0; c < cols; ++c) db[c] = static_cast<T>(static_cast<double>(db[c]) + sums[c]);
  });
}

// y = f(x) (formulas in kernels/common/math.hpp, float exp / tanh / erf from cpu_vmath.hpp); y may alias x.
void CpuBackend::activation_forward(Activation f, const Tensor& x, const Tensor& y) {
  constexpr const char* k = "activation_forward";
  cpu::check_float(k, "x", x);
  cpu::check_like(k, "x", x, "y", y);
  cpu::dispatch_float(k, x.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* xp = x.as<T>();
    T* yp = y.as<T>();
    cpu::with_activation(f, [&](auto act) {
      constexpr Activation A = decltype(act)::value;
      if (A == Activation::identity && xp == yp) return;
      cpu::parallel_blocks(threads_, x.numel(), cpu::activation_grain(A), [=](std::int64_t b, std::int64_t e) {
        cpu::activate_span<A>(xp + b, yp + b, e - b);
      });
    });
  });
}

// dx = dy * f'(x); dx may alias dy.
void CpuBackend::activation_backward(Activation f, const Tensor& x, const Tensor& dy, const Tensor& dx) {
  constexpr const char* k = "activation_backward";
  cpu::check_float(k, "x", x);
  cpu::check_like(k, "x", x, "dy", dy);
  cpu::check_like(k, "x", x, "dx", dx);
  cpu::dispatch_float(k, x.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* xp = x.as<T>();
    const T* gp = dy.as<T>();
    T* dp = dx.as<T>();
    cpu::with_activation(f, [&](auto act) {
      constexpr Activation A = decltype(act)::value;
      if (A == Activation::identity && gp == dp) return;
      cpu::parallel_blocks(threads_, x.numel(), cpu::activation_grain(A), [=](std::int64_t b, std::int64_t e) {
        cpu::activate_grad_span<A>(xp + b, gp + b, dp + b, e - b);
      });
    });
  });
}

// dx = dy * f'(x) and dbias[c] += sum_r dx[r, c] in one pass over the rows, with bias_grad's row
// chunks and double partial sums (so the same bits as activation_backward, then bias_grad).
void CpuBackend::activation_bias_grad(Activation f, const Tensor& x, const Tensor& dy, const Tensor& dx,
                                      const Tensor& dbias) {
  constexpr const char* k = "activation_bias_grad";
  cpu::check_float(k, "x", x);
  cpu::check_like(k, "x", x, "dy", dy);
  cpu::check_like(k, "x", x, "dx", dx);
  const std::int64_t rows = x.rows(), cols = x.cols();
  cpu::check_vector(k, "dx", dx, "dbias", dbias, cols, "the columns");
  cpu::dispatch_float(k, x.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* xp = x.as<T>();
    const T* gp = dy.as<T>();
    T* dp = dx.as<T>();
    T* db = dbias.as<T>();
    std::vector<double> sums;
    cpu::with_activation(f, [&](auto act) {
      constexpr Activation A = decltype(act)::value;
      cpu::chunked_column_sums(threads_, rows, cpu::rows_per_block(cols, cpu::kReduceChunk), cols, sums,
                               [=](std::int64_t r0, std::int64_t r1, double* acc) {
                                 for (std::int64_t r = r0; r < r1; ++r) {
                                   const std::int64_t o = r * cols;
                                   cpu::activate_grad_span<A>(xp + o, gp + o, dp + o, cols);
                                   for (std::int64_t c = 0; c < cols; ++c) acc[c] += static_cast<double>(dp[o + c]);
                                 }
                               });
    });
    for (std::int64_t c = 0; c < cols; ++c) db[c] = static_cast<T>(static_cast<double>(db[c]) + sums[c]);
  });
}

// Inverted dropout: y = keep ? x / (1 - p) : 0, keep = philox_uniform(seed, stream, i) >= p.
void CpuBackend::dropout_forward(const Tensor& x, const Tensor& y, double p, std::uint64_t seed,
                                 std::uint64_t stream) {
  constexpr const char* k = "dropout_forward";
  check_dropout(k, x, "x", y, "y", p);
  cpu::dispatch_float(k, x.dtype, [&](auto zero) {
    using T = decltype(zero);
    dropout_apply<T>(threads_, x.as<T>(), y.as<T>(), x.numel(), p, seed, stream);
  });
}

// dx = keep ? dy / (1 - p) : 0 with the forward mask (same seed, stream, index).
void CpuBackend::dropout_backward(const Tensor& dy, const Tensor& dx, double p, std::uint64_t seed,
                                  std::uint64_t stream) {
  constexpr const char* k = "dropout_backward";
  check_dropout(k, dy, "dy", dx, "dx", p);
  cpu::dispatch_float(k, dy.dtype, [&](auto zero) {
    using T = decltype(zero);
    dropout_apply<T>(threads_, dy.as<T>(), dx.as<T>(), dy.numel(), p, seed, stream);
  });
}

}  // namespace hpct::kernels
