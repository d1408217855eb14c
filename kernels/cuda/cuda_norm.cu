// CudaBackend: layernorm and softmax, one thread block per row (row sums in double, elementwise math in
// float, double for f64), and layernorm's parameter gradients as column reductions.
#include <cstdint>

#include "kernels/common/math.hpp"
#include "kernels/cuda/cuda_backend.hpp"
#include "kernels/cuda/cuda_common.cuh"

namespace hpct::kernels::cuda {
namespace {

// mu = mean(x), rstd = 1 / sqrt(var(x) + eps) (biased, two passes), y = (x - mu) rstd gamma + beta.
template <class T, class S>
__global__ void layernorm_forward_kernel(const T* x, const T* gamma, const T* beta, T* y, S* mean, S* rstd,
                                         std::int64_t cols, double eps) {
  using Acc = acc_t<T>;
  const std::int64_t r = blockIdx.x;
  const T* xr = x + r * cols;
  T* yr = y + r * cols;
  double s = 0.0;
  for (std::int64_t c = threadIdx.x; c < cols; c += blockDim.x) s += static_cast<double>(load(xr[c]));
  const double mu = block_sum(s) / static_cast<double>(cols);
  double q = 0.0;
  for (std::int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    const double d = static_cast<double>(load(xr[c])) - mu;
    q += d * d;
  }
  const double rs = 1.0 / sqrt(block_sum(q) / static_cast<double>(cols) + eps);
  const auto mu_s = static_cast<S>(mu), rs_s = static_cast<S>(rs);  // the saved statistics, as backward reads them
  for (std::int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    const Acc xhat = (static_cast<Acc>(load(xr[c])) - static_cast<Acc>(mu_s)) * static_cast<Acc>(rs_s);
    yr[c] = store<T>(xhat * static_cast<Acc>(load(gamma[c])) + static_cast<Acc>(load(beta[c])));
  }
  if (threadIdx.x == 0) {
    mean[r] = mu_s;
    rstd[r] = rs_s;
  }
}

// xhat = (x - mu) rstd, g = dy gamma: dx = rstd (g - mean(g) - xhat mean(g xhat)).
template <class T, class S>
__global__ void layernorm_dx_kernel(const T* x, const T* gamma, const S* mean, const S* rstd, const T* dy, T* dx,
                                    std::int64_t cols) {
  using Acc = acc_t<T>;
  const std::int64_t r = blockIdx.x;
  const T *xr = x + r * cols, *dyr = dy + r * cols;
  const Acc mu = static_cast<Acc>(mean[r]), rs = static_cast<Acc>(rstd[r]);
  double sg = 0.0, sgx = 0.0;
  for (std::int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    const Acc xhat = (static_cast<Acc>(load(xr[c])) - mu) * rs;
    const Acc g = static_cast<Acc>(load(dyr[c])) * static_cast<Acc>(load(gamma[c]));
    sg += static_cast<double>(g);
    sgx += static_cast<double>(g * xhat);
  }
  const auto mg = static_cast<Acc>(block_sum(sg) / static_cast<double>(cols));
  const auto mgx = static_cast<Acc>(block_sum(sgx) / static_cast<double>(cols));
  for (std::int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    const Acc xhat = (static_cast<Acc>(load(xr[c])) - mu) * rs;
    const Acc g = static_cast<Acc>(load(dyr[c])) * static_cast<Acc>(load(gamma[c]));
    dx[r * cols + c] = store<T>(rs * (g - mg - xhat * mgx));
  }
}

// dgamma[c] += sum_r dy xhat; dbeta[c] += sum_r dy (32 columns a block, rows strided by 8, fixed order).
template <class T, class S>
__global__ void layernorm_param_grad_kernel(const T* x, const S* mean, const S* rstd, const T* dy, T* dgamma,
                                            T* dbeta, std::int64_t rows, std::int64_t cols) {
  using Acc = acc_t<T>;
  __shared__ Acc pg[kRowLanes][kColTile], pb[kRowLanes][kColTile];
  const std::int64_t c = static_cast<std::int64_t>(blockIdx.x) * kColTile + threadIdx.x;
  Acc sg = 0, sb = 0;
  if (c < cols) {
    for (std::int64_t r = threadIdx.y; r < rows; r += kRowLanes) {
      const Acc xhat = (static_cast<Acc>(load(x[r * cols + c])) - static_cast<Acc>(mean[r])) * static_cast<Acc>(rstd[r]);
      const Acc d = load(dy[r * cols + c]);
      sg += d * xhat;
      sb += d;
    }
  }
  pg[threadIdx.y][threadIdx.x] = sg;
  pb[threadIdx.y][threadIdx.x] = sb;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    Acc tg = 0, tb = 0;
    for (int l = 0; l < kRowLanes; ++l) {
      tg += pg[l][threadIdx.x];
      tb += pb[l][threadIdx.x];
    }
    dgamma[c] = store<T>(load(dgamma[c]) + tg);
    dbeta[c] = store<T>(load(dbeta[c]) + tb);
  }
}

// y = exp(x - max) / sum exp(x - max) per row; y may alias x.
template <class T>
__global__ void softmax_forward_kernel(const T* x, T* y, std::int64_t cols) {
  using Acc = acc_t<T>;
  const std::int64_t r = blockIdx.x;
  const T* xr = x + r * cols;
  const RowExp<T> e = row_exp(xr, cols);
  const auto inv = static_cast<Acc>(1.0 / e.sum);
  for (std::int64_t c = threadIdx.x; c < cols; c += blockDim.x)
    y[r * cols + c] = store<T>(math::hd_exp(static_cast<Acc>(load(xr[c])) - e.max) * inv);
}

// dx = y (dy - sum_c dy y) per row.
template <class T>
__global__ void softmax_backward_kernel(const T* y, const T* dy, T* dx, std::int64_t cols) {
  const std::int64_t r = blockIdx.x;
  const T *yr = y + r * cols, *gr = dy + r * cols;
  double dot = 0.0;
  for (std::int64_t c = threadIdx.x; c < cols; c += blockDim.x)
    dot += static_cast<double>(load(gr[c])) * static_cast<double>(load(yr[c]));
  dot = block_sum(dot);
  for (std::int64_t c = threadIdx.x; c < cols; c += blockDim.x)
    dx[r * cols + c] = store<T>(static_cast<double>(load(yr[c])) * (static_cast<double>(load(gr[c])) - dot));
}


// Calls f(T{}, S{}) with S the statistics' type (stats_dtype).
template <class F>
void dispatch_stats(const char* k, DType t, F&& f) {
  dispatch_float(k, t, [&](auto z) {
    using T = decltype(z);
    f(T{}, acc_t<T>{});
  });
}

}  // namespace

void CudaBackend::layernorm_forward_impl(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& y,
                                         const Tensor& mean, const Tensor& rstd, double eps) {
  const std::int64_t rows = x.rows(), cols = x.cols();
  if (rows == 0) return;
  dispatch_stats("layernorm_forward", x.dtype, [&](auto zt, auto zs) {
    using T = decltype(zt);
    using S = decltype(zs);
    layernorm_forward_kernel<T, S><<<static_cast<unsigned>(rows), row_threads(cols), 0, cur()>>>(
        x.ptr<T>(), gamma.ptr<T>(), beta.ptr<T>(), y.ptr<T>(), mean.ptr<S>(), rstd.ptr<S>(), cols, eps);
  });
  HPCT_CUDA_LAUNCH_CHECK();
}

void CudaBackend::layernorm_backward_impl(const Tensor& x, const Tensor& gamma, const Tensor& mean, const Tensor& rstd,
                                          const Tensor& dy, const Tensor& dx, const Tensor& dgamma,
                                          const Tensor& dbeta) {
  const std::int64_t rows = x.rows(), cols = x.cols();
  if (rows == 0 || cols == 0) return;
  dispatch_stats("layernorm_backward", x.dtype, [&](auto zt, auto zs) {
    using T = decltype(zt);
    using S = decltype(zs);
    // The parameter gradients first: dx may alias dy.
    const dim3 block(kColTile, kRowLanes), grid(static_cast<unsigned>((cols + kColTile - 1) / kColTile));
    layernorm_param_grad_kernel<T, S><<<grid, block, 0, cur()>>>(x.ptr<T>(), mean.ptr<S>(), rstd.ptr<S>(),
                                                                 dy.ptr<T>(), dgamma.ptr<T>(), dbeta.ptr<T>(), rows,
                                                                 cols);
    HPCT_CUDA_LAUNCH_CHECK();
    layernorm_dx_kernel<T, S><<<static_cast<unsigned>(rows), row_threads(cols), 0, cur()>>>(
        x.ptr<T>(), gamma.ptr<T>(), mean.ptr<S>(), rstd.ptr<S>(), dy.ptr<T>(), dx.ptr<T>(), cols);
  });
  HPCT_CUDA_LAUNCH_CHECK();
}

void CudaBackend::softmax_forward_impl(const Tensor& x, const Tensor& y) {
  const std::int64_t rows = x.rows(), cols = x.cols();
  if (rows == 0) return;
  dispatch_float("softmax_forward", x.dtype, [&](auto z) {
    using T = decltype(z);
    softmax_forward_kernel<T><<<static_cast<unsigned>(rows), row_threads(cols), 0, cur()>>>(x.ptr<T>(), y.ptr<T>(),
                                                                                           cols);
  });
  HPCT_CUDA_LAUNCH_CHECK();
}

void CudaBackend::softmax_backward_impl(const Tensor& y, const Tensor& dy, const Tensor& dx) {
  const std::int64_t rows = y.rows(), cols = y.cols();
  if (rows == 0) return;
  dispatch_float("softmax_backward", y.dtype, [&](auto z) {
    using T = decltype(z);
    softmax_backward_kernel<T><<<static_cast<unsigned>(rows), row_threads(cols), 0, cur()>>>(y.ptr<T>(), dy.ptr<T>(),
                                                                                            dx.ptr<T>(), cols);
  });
  HPCT_CUDA_LAUNCH_CHECK();
}

}  // namespace hpct::kernels::cuda
