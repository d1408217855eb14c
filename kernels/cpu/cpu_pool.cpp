// CpuBackend: masked mean pooling over the positions of a batch of sequences, and its backward.
#include <cstdint>

#include "kernels/cpu/cpu_backend.hpp"
#include "kernels/cpu/cpu_common.hpp"

namespace hpct::kernels {
namespace {

// Columns summed at once in a stack accumulator (double), so rows are read contiguously.
constexpr std::int64_t kPoolCols = 64;

// seq [N, L, D], pooled [N, D] of one dtype; lengths in [1, L] when given.
void check_pool(const char* k, const Tensor& seq, const char* seq_name, const Tensor& pooled,
                const char* pooled_name, const std::int32_t* lengths) {
  cpu::check_float(k, seq_name, seq);
  HPCT_CHECK(seq.rank() == 3, k, ": ", seq_name, " must be [N, L, D], got ", seq.shape.str());
  cpu::check_float(k, pooled_name, pooled);
  cpu::check_same_dtype(k, seq_name, seq, pooled_name, pooled);
  HPCT_CHECK(pooled.shape == Shape({seq.dim(0), seq.dim(2)}), k, ": ", pooled_name, " is ", pooled.shape.str(),
             ", expected [", seq.dim(0), ", ", seq.dim(2), "] for ", seq_name, " ", seq.shape.str());
  if (lengths)
    for (std::int64_t n = 0; n < seq.dim(0); ++n)
      HPCT_CHECK(lengths[n] >= 1 && lengths[n] <= seq.dim(1), k, ": lengths[", n, "] = ", lengths[n],
                 " is outside [1, ", seq.dim(1), "]");
}

}  // namespace

// out[n, :] = sum_{l < len_n} x[n, l, :] / len_n, positions summed in order in double; sequences in
// parallel.
void CpuBackend::mean_pool_forward(const Tensor& x, const std::int32_t* lengths, const Tensor& out) {
  constexpr const char* k = "mean_pool_forward";
  check_pool(k, x, "x", out, "out", lengths);
  const std::int64_t batch = x.dim(0), len = x.dim(1), width = x.dim(2);
  cpu::dispatch_float(k, x.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* xp = x.as<T>();
    T* op = out.as<T>();
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
void CpuBackend::mean_pool_backward(const Tensor& dout, const std::int32_t* lengths, const Tensor& dx) {
  constexpr const char* k = "mean_pool_backward";
  check_pool(k, dx, "dx", dout, "dout", lengths);
  const std::int64_t batch = dx.dim(0), len = dx.dim(1), width = dx.dim(2);
  cpu::dispatch_float(k, dx.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* gp = dout.as<T>();
    T* dp = dx.as<T>();
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
