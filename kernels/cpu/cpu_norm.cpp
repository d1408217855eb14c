// CpuBackend: layernorm and softmax, per row of a row-major matrix view. Layernorm works in the
// tensor's precision (row sums as vectorised reductions in a fixed order: float is what PyTorch uses
// too, and the double conversions made layernorm 5% of a transformer step); rows run in parallel; the
// column sums of layernorm's backward go over fixed row chunks, in T within a chunk and in double
// across chunks.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/common/math.hpp"
#include "kernels/cpu/cpu_backend.hpp"
#include "kernels/cpu/cpu_common.hpp"
#include "kernels/cpu/cpu_vmath.hpp"
#include "kernels/cpu/cpu_widen.hpp"

namespace hpct::kernels {

// Per row r over its C columns (two passes):
//   mu = sum_c x / C, var = sum_c (x - mu)^2 / C, rstd = 1 / sqrt(var + eps),
//   y = (x - mu) * rstd * gamma + beta.
// backward recomputes xhat from the stored mean and rstd, exactly as forward computed it.
void CpuBackend::layernorm_forward_impl(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& y,
                                        const Tensor& mean, const Tensor& rstd, double eps) {
  if (widened([&](const Tensor& x32, const Tensor& g32, const Tensor& b32,
                  const Tensor& y32) { CpuBackend::layernorm_forward_impl(x32, g32, b32, y32, mean, rstd, eps); },
              cpu::in(x), cpu::in(gamma), cpu::in(beta), cpu::out(y)))
    return;
  const std::int64_t rows = x.rows(), cols = x.cols();
  cpu::dispatch_float("layernorm_forward", x.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* xp = x.ptr<T>();
    const T* gp = gamma.ptr<T>();
    const T* bp = beta.ptr<T>();
    T* yp = y.ptr<T>();
    T* mp = mean.ptr<T>();
    T* rp = rstd.ptr<T>();
    cpu::parallel_blocks(threads_, rows, cpu::rows_per_block(cols, cpu::kGrainMath),
                         [=](std::int64_t r0, std::int64_t r1) {
      for (std::int64_t r = r0; r < r1; ++r) {
        const T* xr = xp + r * cols;
        T* yr = yp + r * cols;
        T s = 0;
#pragma omp simd reduction(+ : s)
        for (std::int64_t c = 0; c < cols; ++c) s += xr[c];
        const T mu = s / static_cast<T>(cols);
        T ss = 0;
#pragma omp simd reduction(+ : ss)
        for (std::int64_t c = 0; c < cols; ++c) ss += (xr[c] - mu) * (xr[c] - mu);
        const T rs = static_cast<T>(1.0 / std::sqrt(static_cast<double>(ss) / static_cast<double>(cols) + eps));
        mp[r] = mu;
        rp[r] = rs;
#pragma omp simd
        for (std::int64_t c = 0; c < cols; ++c) yr[c] = (xr[c] - mu) * rs * gp[c] + bp[c];
      }
    });
  });
}

// With xhat = (x - mu) * rstd and g = dy * gamma, per row:
//   dx = rstd * (g - mean_c(g) - xhat * mean_c(g * xhat))      (overwrites dx)
//   dgamma += sum_r dy * xhat,  dbeta += sum_r dy                (fixed row chunks)
void CpuBackend::layernorm_backward_impl(const Tensor& x, const Tensor& gamma, const Tensor& mean, const Tensor& rstd,
                                         const Tensor& dy, const Tensor& dx, const Tensor& dgamma,
                                         const Tensor& dbeta) {
  if (widened(
          [&](const Tensor& x32, const Tensor& g32, const Tensor& dy32, const Tensor& dx32, const Tensor& dg32,
              const Tensor& db32) { CpuBackend::layernorm_backward_impl(x32, g32, mean, rstd, dy32, dx32, dg32, db32); },
          cpu::in(x), cpu::in(gamma), cpu::in(dy), cpu::out(dx), cpu::inout(dgamma), cpu::inout(dbeta)))
    return;
  const std::int64_t rows = x.rows(), cols = x.cols();
  cpu::dispatch_float("layernorm_backward", x.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* xp = x.ptr<T>();
    const T* gp = gamma.ptr<T>();
    const T* mp = mean.ptr<T>();
    const T* rp = rstd.ptr<T>();
    const T* dyp = dy.ptr<T>();
    T* dxp = dx.ptr<T>();
    // acc[0, cols) collects dgamma, acc[cols, 2 cols) dbeta: sums in T over kRowsInT rows, then in double.
    std::vector<double> sums;
    cpu::chunked_column_sums(threads_, rows, cpu::rows_per_block(cols, cpu::kGrainMath), 2 * cols, sums,
                             [=](std::int64_t r0, std::int64_t r1, double* acc) {
      thread_local std::vector<T> part;  // one per thread, not one per chunk (zeroed at r0 below)
      part.resize(static_cast<std::size_t>(2 * cols));
      T* pg = part.data();
      T* pb = pg + cols;
      for (std::int64_t r = r0; r < r1; ++r) {
        if ((r - r0) % cpu::kRowsInT == 0) std::fill(part.begin(), part.end(), T(0));
        const T* xr = xp + r * cols;
        const T* dyr = dyp + r * cols;
        T* dxr = dxp + r * cols;
        const T mu = mp[r], rs = rp[r];
        T sum_g = 0, sum_gx = 0;
#pragma omp simd reduction(+ : sum_g, sum_gx)
        for (std::int64_t c = 0; c < cols; ++c) {
          const T xhat = (xr[c] - mu) * rs;
          const T g = dyr[c] * gp[c];
          sum_g += g;
          sum_gx += g * xhat;
          pg[c] += dyr[c] * xhat;
          pb[c] += dyr[c];
        }
        const T mean_g = sum_g / static_cast<T>(cols), mean_gx = sum_gx / static_cast<T>(cols);
#pragma omp simd
        for (std::int64_t c = 0; c < cols; ++c) dxr[c] = rs * (dyr[c] * gp[c] - mean_g - (xr[c] - mu) * rs * mean_gx);
        if ((r - r0) % cpu::kRowsInT == cpu::kRowsInT - 1 || r == r1 - 1)
          for (std::int64_t c = 0; c < 2 * cols; ++c) acc[c] += static_cast<double>(part[static_cast<std::size_t>(c)]);
      }
    });
    T* dgp = dgamma.ptr<T>();
    T* dbp = dbeta.ptr<T>();
    for (std::int64_t c = 0; c < cols; ++c) {
      dgp[c] = static_cast<T>(static_cast<double>(dgp[c]) + sums[c]);
      dbp[c] = static_cast<T>(static_cast<double>(dbp[c]) + sums[cols + c]);
    }
  });
}

// y = exp(x - max_c x) / sum_c exp(x - max_c x) per row (exp in the tensor's precision, sum in double);
// y may alias x.
void CpuBackend::softmax_forward_impl(const Tensor& x, const Tensor& y) {
  if (widened([&](const Tensor& x32, const Tensor& y32) { CpuBackend::softmax_forward_impl(x32, y32); }, cpu::in(x),
              cpu::out(y)))
    return;
  const std::int64_t rows = x.rows(), cols = x.cols();
  cpu::dispatch_float("softmax_forward", x.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* xp = x.ptr<T>();
    T* yp = y.ptr<T>();
    cpu::parallel_blocks(threads_, rows, cpu::rows_per_block(cols, cpu::kGrainMath),
                         [=](std::int64_t r0, std::int64_t r1) {
      for (std::int64_t r = r0; r < r1; ++r) {
        const T* xr = xp + r * cols;
        T* yr = yp + r * cols;
        T mx = xr[0];
#pragma omp simd reduction(max : mx)
        for (std::int64_t c = 1; c < cols; ++c) mx = math::hd_max(mx, xr[c]);
        double s = 0.0;
#pragma omp simd reduction(+ : s)
        for (std::int64_t c = 0; c < cols; ++c) {
          const T e = cpu::CpuOps::exp(xr[c] - mx);
          yr[c] = e;
          s += static_cast<double>(e);
        }
        const T inv = static_cast<T>(1.0 / s);
        for (std::int64_t c = 0; c < cols; ++c) yr[c] *= inv;
      }
    });
  });
}

// dx = y * (dy - sum_c(dy * y)) per row (dot in double).
void CpuBackend::softmax_backward_impl(const Tensor& y, const Tensor& dy, const Tensor& dx) {
  if (widened([&](const Tensor& y32, const Tensor& dy32,
                  const Tensor& dx32) { CpuBackend::softmax_backward_impl(y32, dy32, dx32); },
              cpu::in(y), cpu::in(dy), cpu::out(dx)))
    return;
  const std::int64_t rows = y.rows(), cols = y.cols();
  cpu::dispatch_float("softmax_backward", y.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* yp = y.ptr<T>();
    const T* gp = dy.ptr<T>();
    T* dp = dx.ptr<T>();
    cpu::parallel_blocks(threads_, rows, cpu::rows_per_block(cols, cpu::kGrainCheap / 4),
                         [=](std::int64_t r0, std::int64_t r1) {
      for (std::int64_t r = r0; r < r1; ++r) {
        const T* yr = yp + r * cols;
        const T* gr = gp + r * cols;
        T* dr = dp + r * cols;
        double dot = 0.0;
#pragma omp simd reduction(+ : dot)
        for (std::int64_t c = 0; c < cols; ++c) dot += static_cast<double>(gr[c]) * static_cast<double>(yr[c]);
        for (std::int64_t c = 0; c < cols; ++c)
          dr[c] = static_cast<T>(static_cast<double>(yr[c]) * (static_cast<double>(gr[c]) - dot));
      }
    });
  });
}

}  // namespace hpct::kernels
