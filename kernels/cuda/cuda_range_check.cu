// CudaBackend: the checks of index tensors the kernels trust: sequence lengths (attention, pooling,
// convolutions) and row keys (dropout, attention dropout, normal_fill). One kernel for both: every
// value must lie in [lo, hi], else the first bad one is reported at the next wait.
#include <cstdint>

#include "kernels/cuda/cuda_common.cuh"

namespace hpct::kernels::cuda {
namespace {

template <typename T>
__global__ void check_range_kernel(const T* values, std::int64_t batch, std::int64_t lo, std::int64_t hi,
                                   DeviceError::Code code, DeviceError* err) {
  HPCT_GRID_LOOP(n, batch) {
    const std::int64_t v = values[n];
    if (v < lo || v > hi) err->report(code, n, v, hi);
  }
}

template <typename T>
void check_range(const Tensor& values, std::int64_t lo, std::int64_t hi, DeviceError::Code code, cudaStream_t s,
                 DeviceError* err) {
  const std::int64_t batch = values.numel();
  if (batch == 0) return;
  check_range_kernel<T><<<static_cast<unsigned>((batch + kThreads - 1) / kThreads), kThreads, 0, s>>>(
      values.ptr<T>(), batch, lo, hi, code, err);
  HPCT_CUDA_LAUNCH_CHECK();
}

}  // namespace

void check_lengths(const Tensor& lengths, std::int64_t len, cudaStream_t s, DeviceError* err) {
  check_range<std::int32_t>(lengths, 1, len, DeviceError::length_out_of_range, s, err);
}

void check_row_ids(const Tensor& row_ids, std::int64_t max_row, cudaStream_t s, DeviceError* err) {
  check_range<std::int64_t>(row_ids, 0, max_row, DeviceError::row_id_out_of_range, s, err);
}

}  // namespace hpct::kernels::cuda
