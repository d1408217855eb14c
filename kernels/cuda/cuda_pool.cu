// CudaBackend: masked mean pooling over the positions of a batch of sequences, and its backward.
#include <cstdint>

#include "kernels/cuda/cuda_backend.hpp"
#include "kernels/cuda/cuda_common.cuh"

namespace hpct::kernels::cuda {
namespace {

// out[n, c] = sum_{l < len_n} x[n, l, c] / len_n: a thread per (n, c), positions in order, in double.
template <class T>
__global__ void mean_pool_forward_kernel(const T* x, const std::int32_t* lengths, T* out, std::int64_t batch,
                                         std::int64_t len, std::int64_t width) {
  HPCT_GRID_LOOP(e, batch * width) {
    const std::int64_t n = e / width, c = e % width, valid = valid_length(lengths, n, len);
    double s = 0.0;
    for (std::int64_t l = 0; l < valid; ++l) s += static_cast<double>(load(x[(n * len + l) * width + c]));
    out[e] = store<T>(s * (1.0 / static_cast<double>(valid)));
  }
}

// dx[n, l, c] = l < len_n ? dout[n, c] / len_n : 0
template <class T>
__global__ void mean_pool_backward_kernel(const T* dout, const std::int32_t* lengths, T* dx, std::int64_t batch,
                                          std::int64_t len, std::int64_t width) {
  HPCT_GRID_LOOP(e, batch * len * width) {
    const std::int64_t c = e % width, l = e / width % len, n = e / width / len;
    const std::int64_t valid = valid_length(lengths, n, len);
    dx[e] = l < valid ? store<T>(static_cast<double>(load(dout[n * width + c])) * (1.0 / static_cast<double>(valid)))
                      : store<T>(0.0);
  }
}

}  // namespace

void CudaBackend::mean_pool_forward_impl(const Tensor& x, const Tensor& lengths, const Tensor& out) {
  const std::int64_t batch = x.dim(0), len = x.dim(1), width = x.dim(2);
  if (batch * width == 0 || len == 0) return;
  check_lengths(lengths, len, cur(), device_error());
  dispatch_float("mean_pool_forward", x.dtype, [&](auto z) {
    using T = decltype(z);
    mean_pool_forward_kernel<T><<<grid_for(batch * width, sm_count()), kThreads, 0, cur()>>>(
        x.ptr<T>(), lengths_ptr(lengths), out.ptr<T>(), batch, len, width);
  });
  HPCT_CUDA_LAUNCH_CHECK();
}

void CudaBackend::mean_pool_backward_impl(const Tensor& dout, const Tensor& lengths, const Tensor& dx) {
  const std::int64_t batch = dx.dim(0), len = dx.dim(1), width = dx.dim(2);
  if (dx.numel() == 0) return;
  check_lengths(lengths, len, cur(), device_error());
  dispatch_float("mean_pool_backward", dx.dtype, [&](auto z) {
    using T = decltype(z);
    mean_pool_backward_kernel<T><<<grid_for(dx.numel(), sm_count()), kThreads, 0, cur()>>>(
        dout.ptr<T>(), lengths_ptr(lengths), dx.ptr<T>(), batch, len, width);
  });
  HPCT_CUDA_LAUNCH_CHECK();
}

}  // namespace hpct::kernels::cuda
