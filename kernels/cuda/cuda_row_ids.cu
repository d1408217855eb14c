// CudaBackend: the check of a row-keys tensor (dropout, attention dropout, normal_fill's row_ids).
#include <cstdint>

#include "kernels/cuda/cuda_common.cuh"

namespace hpct::kernels::cuda {
namespace {

__global__ void check_row_ids_kernel(const std::int64_t* row_ids, std::int64_t batch, std::int64_t max_row,
                                     DeviceError* err) {
  HPCT_GRID_LOOP(n, batch) {
    const std::int64_t r = row_ids[n];
    if (r < 0 || r > max_row) err->report(DeviceError::row_id_out_of_range, n, r, max_row);
  }
}

}  // namespace

void check_row_ids(const Tensor& row_ids, std::int64_t max_row, cudaStream_t s, DeviceError* err) {
  const std::int64_t batch = row_ids.numel();
  if (batch == 0) return;
  check_row_ids_kernel<<<static_cast<unsigned>((batch + kThreads - 1) / kThreads), kThreads, 0, s>>>(
      row_ids.ptr<std::int64_t>(), batch, max_row, err);
  HPCT_CUDA_LAUNCH_CHECK();
}

}  // namespace hpct::kernels::cuda
