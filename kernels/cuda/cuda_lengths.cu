// CudaBackend: the check of a sequence-lengths tensor shared by attention, pooling and convolutions.
#include <cstdint>

#include "kernels/cuda/cuda_common.cuh"

namespace hpct::kernels::cuda {
namespace {

__global__ void check_lengths_kernel(const std::int32_t* lengths, std::int64_t batch, std::int64_t len,
                                     DeviceError* err) {
  HPCT_GRID_LOOP(n, batch) {
    const std::int32_t l = lengths[n];
    if (l < 1 || l > len) err->report(DeviceError::length_out_of_range, n, l, len);
  }
}

}  // namespace

void check_lengths(const Tensor& lengths, std::int64_t len, cudaStream_t s, DeviceError* err) {
  const std::int64_t batch = lengths.numel();
  if (batch == 0) return;
  check_lengths_kernel<<<static_cast<unsigned>((batch + kThreads - 1) / kThreads), kThreads, 0, s>>>(
      lengths.ptr<std::int32_t>(), batch, len, err);
  HPCT_CUDA_LAUNCH_CHECK();
}

}  // namespace hpct::kernels::cuda
