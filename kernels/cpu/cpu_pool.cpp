// CpuBackend: masked mean pooling over the positions of a batch of sequences, and its backward.
#include <cstdint>

#include "kernels/cpu/cpu_backend.hpp"
#include "kernels/cpu/cpu_common.hpp"
#include "kernels/cpu/cpu_widen.hpp"

namespace hpct::kernels {
namespace {

// Columns summed at once in a stack accumulator (double), so rows are read contiguously.
constexpr std::int64_t kPoolCols = 64;

}  // namespace

// out[n, :] = sum_{l < len_n} x[n, l, :] / len_n, positions summed in order in double; sequences in
// parallel.
void CpuBackend::mean_pool_forward_impl(const Tensor& x, const Tensor& lengths_t, const Tensor& out) {
  if (widened([&](const Tensor& x32, const Tensor& out32) { CpuBackend::mean_pool_forward_impl(x32, lengths_t, out32); },
              cpu::in(x), cpu::out(out)))
    return;
  constexpr const char* k = "mean_pool_forward";
  const std::int64_t batch = x.dim(0), len = x.dim(1), width = x.dim(2);
  const std::int32_t* lengths = cpu::checked_lengths(k, lengths_t, batch, len);
  cpu::dispatch_float(k, x.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* xp = x.ptr<T>();
    T* op = out.ptr<T>();
    cpu::parallel_blocks(threads_, batch, cpu::rows_per_block(len * width, cpu::kGrainCheap),
                         [=](std::int64_t n0, std::int64_t n1) {
      for (std::int64_t n = n0; n < n1; ++n) {
        const std::int64_t valid = lengths ? lengths[n] : len;
        const double inv = 1.0 / static_cast<double>(valid);
        for (std::int64_t c0 = 0; c0 < width; c0 += kPoolCols) {
          const std::int64_t cols = std::min(kPoolCols, width - c0);
          double acc[kPoolCols] = {};
          for (std::int64_t l = 0; l < valid; ++l) {
            const T* row = xp + (n * len + l) * width + c0;
#pragma omp simd
            for (std::int64_t c = 0; c < cols; ++c) acc[c] += static_cast<double>(row[c]);
          }
          for (std::int64_t c = 0; c < cols; ++c) op[n * width + c0 + c] = static_cast<T>(acc[c] * inv);
        }
      }
    });
  });
}

// dx[n, l, :] = l < len_n ? dout[n, :] / len_n : 0.
void CpuBackend::mean_pool_backward_impl(const Tensor& dout, const Tensor& lengths_t, const Tensor& dx) {
  if (widened([&](const Tensor& g32, const Tensor& dx32) { CpuBackend::mean_pool_backward_impl(g32, lengths_t, dx32); },
              cpu::in(dout), cpu::out(dx)))
    return;
  constexpr const char* k = "mean_pool_backward";
  const std::int64_t batch = dx.dim(0), len = dx.dim(1), width = dx.dim(2);
  const std::int32_t* lengths = cpu::checked_lengths(k, lengths_t, batch, len);
  cpu::dispatch_float(k, dx.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* gp = dout.ptr<T>();
    T* dp = dx.ptr<T>();
    cpu::parallel_blocks(threads_, batch, cpu::rows_per_block(len * width, cpu::kGrainCheap),
                         [=](std::int64_t n0, std::int64_t n1) {
      for (std::int64_t n = n0; n < n1; ++n) {
        const std::int64_t valid = lengths ? lengths[n] : len;
        const double inv = 1.0 / static_cast<double>(valid);
        for (std::int64_t l = 0; l < len; ++l) {
          T* row = dp + (n * len + l) * width;
          if (l < valid)
            for (std::int64_t c = 0; c < width; ++c)
              row[c] = static_cast<T>(static_cast<double>(gp[n * width + c]) * inv);
          else
            for (std::int64_t c = 0; c < width; ++c) row[c] = T(0);
        }
      }
    });
  });
}

}  // namespace hpct::kernels
