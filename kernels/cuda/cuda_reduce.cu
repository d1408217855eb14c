// CudaBackend: sum_squares and checksum, whole-tensor reductions into a device scalar.
#include <cstdint>

#include "kernels/common/step.hpp"
#include "kernels/cuda/cuda_backend.hpp"
#include "kernels/cuda/cuda_common.cuh"

namespace hpct::kernels::cuda {
namespace {

// out[0] += sum_i x_i^2 in double: a block sum per block, added atomically (out zeroed first).
template <class T>
__global__ void sum_squares_kernel(const T* x, std::int64_t n, double* out) {
  double s = 0.0;
  HPCT_GRID_LOOP(i, n) {
    const double v = static_cast<double>(load(x[i]));
    s += v * v;
  }
  s = block_sum(s);
  if (threadIdx.x == 0) atomicAdd(out, s);
}

// out[0] = sum_i mix64(w_i xor mix64(i)) mod 2^64 over the 8-byte words w_i of the bytes (the last
// zero-padded): order-free, so atomic adds give the same value as any other order.
__global__ void checksum_kernel(const unsigned char* bytes, std::int64_t nbytes, unsigned long long* out) {
  const std::int64_t words = (nbytes + 7) / 8;
  const bool aligned = (reinterpret_cast<std::uintptr_t>(bytes) % 8) == 0;
  unsigned long long s = 0;
  HPCT_GRID_LOOP(i, words) {
    std::uint64_t w = 0;
    if (aligned && 8 * i + 8 <= nbytes) {
      w = reinterpret_cast<const std::uint64_t*>(bytes)[i];
    } else {  // little-endian assembly, as the host's memcpy of a word
      for (int b = 0; b < 8 && 8 * i + b < nbytes; ++b) w |= static_cast<std::uint64_t>(bytes[8 * i + b]) << (8 * b);
    }
    s += math::mix64(w ^ math::mix64(static_cast<std::uint64_t>(i)));
  }
  s = block_sum(s);
  if (threadIdx.x == 0) atomicAdd(out, s);
}

}  // namespace

void CudaBackend::sum_squares_impl(const Tensor& x, const Tensor& out) {
  HPCT_CUDA_CHECK(cudaMemsetAsync(out.data, 0, sizeof(double), cur()));
  const std::int64_t n = x.numel();
  if (n == 0) return;
  dispatch_float("sum_squares", x.dtype, [&](auto z) {
    using T = decltype(z);
    sum_squares_kernel<T><<<grid_for(n, sm_count()), kThreads, 0, cur()>>>(x.ptr<T>(), n, out.ptr<double>());
  });
  HPCT_CUDA_LAUNCH_CHECK();
}

void CudaBackend::checksum_impl(const Tensor& x, const Tensor& out) {
  HPCT_CUDA_CHECK(cudaMemsetAsync(out.data, 0, sizeof(std::int64_t), cur()));
  const auto nbytes = static_cast<std::int64_t>(x.bytes());
  if (nbytes == 0) return;
  checksum_kernel<<<grid_for((nbytes + 7) / 8, sm_count()), kThreads, 0, cur()>>>(
      static_cast<const unsigned char*>(x.data), nbytes, static_cast<unsigned long long*>(out.data));
  HPCT_CUDA_LAUNCH_CHECK();
}

}  // namespace hpct::kernels::cuda
