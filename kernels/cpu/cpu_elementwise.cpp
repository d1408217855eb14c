// CpuBackend: bias, activations and dropout, elementwise over row-major tensors.
#include <cstdint>
#include <vector>

#include "core/philox.hpp"
#include "kernels/common/math.hpp"
#include "kernels/cpu/cpu_activation.hpp"
#include "kernels/cpu/cpu_backend.hpp"
#include "kernels/cpu/cpu_common.hpp"
#include "kernels/cpu/cpu_vmath.hpp"
#include "kernels/cpu/cpu_widen.hpp"

namespace hpct::kernels {
namespace {

// y[i] = keep(i) ? x[i] / (1 - p) : 0, keep(i) = philox_uniform(seed, stream, c(i)) >= p with c(i) the
// element's counter (math::keyed_index: i, or with row keys row_ids[n] K + k). One Philox call
// yields the bits of 4 consecutive counters (its 4 lanes), as philox_uniform defines; with row keys a
// run of consecutive counters also ends at its row's end.
template <class T>
void dropout_apply(int threads, const T* x, T* y, std::int64_t n, double p, std::uint64_t seed,
                   std::uint64_t stream, const std::int64_t* row_ids, std::int64_t per_row) {
  const std::uint32_t threshold = math::dropout_threshold(p);
  const T keep_prob = static_cast<T>(1.0 - p);
  cpu::parallel_blocks(threads, n, cpu::kGrainMath, [=](std::int64_t b, std::int64_t e) {
    std::int64_t i = b;
    while (i < e) {
      const std::uint64_t c = math::keyed_index(row_ids, i, per_row);
      const U32x4 r = philox4x32(seed, c / 4, stream);
      std::int64_t end = std::min<std::int64_t>(e, i + static_cast<std::int64_t>(4 - c % 4));
      if (row_ids) end = std::min(end, (i / per_row + 1) * per_row);
      for (std::uint64_t lane = c % 4; i < end; ++i, ++lane)
        y[i] = math::dropout_keep(r.v[lane], threshold) ? x[i] / keep_prob : T(0);
    }
  });
}

// dropout_apply on x's dtype, the row keys checked.
void dropout_run(const char* k, int threads, const Tensor& x, const Tensor& y, double p, std::uint64_t seed,
                 std::uint64_t stream, const Tensor& row_ids) {
  const std::int64_t per_row = row_ids.empty() ? 1 : std::max<std::int64_t>(1, x.numel() / row_ids.numel());
  const std::int64_t* rows = cpu::checked_row_ids(k, row_ids, math::max_row_key(per_row));
  cpu::dispatch_float(k, x.dtype, [&](auto zero) {
    using T = decltype(zero);
    dropout_apply<T>(threads, x.ptr<T>(), y.ptr<T>(), x.numel(), p, seed, stream, rows, per_row);
  });
}

}  // namespace

// y[r, c] += bias[c]
void CpuBackend::bias_add_impl(const Tensor& y, const Tensor& bias) {
  if (widened([&](const Tensor& y32, const Tensor& b32) { CpuBackend::bias_add_impl(y32, b32); }, cpu::inout(y),
              cpu::in(bias)))
    return;
  const std::int64_t rows = y.rows(), cols = y.cols();
  cpu::dispatch_float("bias_add", y.dtype, [&](auto zero) {
    using T = decltype(zero);
    T* yp = y.ptr<T>();
    const T* bp = bias.ptr<T>();
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
void CpuBackend::bias_grad_impl(const Tensor& dy, const Tensor& dbias) {
  if (widened([&](const Tensor& dy32, const Tensor& db32) { CpuBackend::bias_grad_impl(dy32, db32); }, cpu::in(dy),
              cpu::inout(dbias)))
    return;
  const std::int64_t rows = dy.rows(), cols = dy.cols();
  cpu::dispatch_float("bias_grad", dy.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* g = dy.ptr<T>();
    T* db = dbias.ptr<T>();
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
void CpuBackend::activation_forward_impl(Activation f, const Tensor& x, const Tensor& y) {
  if (widened([&](const Tensor& x32, const Tensor& y32) { CpuBackend::activation_forward_impl(f, x32, y32); },
              cpu::in(x), cpu::out(y)))
    return;
  cpu::dispatch_float("activation_forward", x.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* xp = x.ptr<T>();
    T* yp = y.ptr<T>();
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
void CpuBackend::activation_backward_impl(Activation f, const Tensor& x, const Tensor& dy, const Tensor& dx) {
  if (widened([&](const Tensor& x32, const Tensor& dy32,
                  const Tensor& dx32) { CpuBackend::activation_backward_impl(f, x32, dy32, dx32); },
              cpu::in(x), cpu::in(dy), cpu::out(dx)))
    return;
  cpu::dispatch_float("activation_backward", x.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* xp = x.ptr<T>();
    const T* gp = dy.ptr<T>();
    T* dp = dx.ptr<T>();
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
void CpuBackend::activation_bias_grad_impl(Activation f, const Tensor& x, const Tensor& dy, const Tensor& dx,
                                           const Tensor& dbias) {
  if (widened([&](const Tensor& x32, const Tensor& dy32, const Tensor& dx32,
                  const Tensor& db32) { CpuBackend::activation_bias_grad_impl(f, x32, dy32, dx32, db32); },
              cpu::in(x), cpu::in(dy), cpu::out(dx), cpu::inout(dbias)))
    return;
  const std::int64_t rows = x.rows(), cols = x.cols();
  cpu::dispatch_float("activation_bias_grad", x.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* xp = x.ptr<T>();
    const T* gp = dy.ptr<T>();
    T* dp = dx.ptr<T>();
    T* db = dbias.ptr<T>();
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

// Inverted dropout: y = keep ? x / (1 - p) : 0, keep = philox_uniform(seed, stream, c(i)) >= p.
void CpuBackend::dropout_forward_impl(const Tensor& x, const Tensor& y, double p, std::uint64_t seed,
                                      std::uint64_t stream, const Tensor& row_ids) {
  if (widened([&](const Tensor& x32,
                  const Tensor& y32) { CpuBackend::dropout_forward_impl(x32, y32, p, seed, stream, row_ids); },
              cpu::in(x), cpu::out(y)))
    return;
  dropout_run("dropout_forward", threads_, x, y, p, seed, stream, row_ids);
}

// dx = keep ? dy / (1 - p) : 0 with the forward mask (same seed, stream, counters).
void CpuBackend::dropout_backward_impl(const Tensor& dy, const Tensor& dx, double p, std::uint64_t seed,
                                       std::uint64_t stream, const Tensor& row_ids) {
  if (widened([&](const Tensor& dy32,
                  const Tensor& dx32) { CpuBackend::dropout_backward_impl(dy32, dx32, p, seed, stream, row_ids); },
              cpu::in(dy), cpu::out(dx)))
    return;
  dropout_run("dropout_backward", threads_, dy, dx, p, seed, stream, row_ids);
}

}  // namespace hpct::kernels
