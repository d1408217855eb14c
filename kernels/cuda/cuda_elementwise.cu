// CudaBackend: bias, axpy, scale, activations (kernels/common/math.hpp) and dropout (core/philox.hpp,
// the CPU backend's stream: the same mask bits on every backend). Arithmetic in float (double for f64),
// 16-bit values rounded on store.
#include <cstdint>

#include "core/philox.hpp"
#include "kernels/common/math.hpp"
#include "kernels/cuda/cuda_backend.hpp"
#include "kernels/cuda/cuda_common.cuh"

namespace hpct::kernels::cuda {
namespace {

// y[r, c] += bias[c]
template <class T>
__global__ void bias_add_kernel(T* y, const T* bias, std::int64_t n, std::int64_t cols) {
  HPCT_GRID_LOOP(i, n) y[i] = store<T>(load(y[i]) + load(bias[i % cols]));
}

// dbias[c] += sum_r dy[r, c]; with A (act) != identity also dx = dy * f'(x) first, and the sum is of dx.
template <class T, Activation A, bool kAct>
__global__ void column_grad_kernel(const T* x, const T* dy, T* dx, T* dbias, std::int64_t rows, std::int64_t cols) {
  using Acc = acc_t<T>;
  __shared__ Acc part[kRowLanes][kColTile];
  const std::int64_t c = static_cast<std::int64_t>(blockIdx.x) * kColTile + threadIdx.x;
  Acc s = 0;
  if (c < cols) {
    for (std::int64_t r = threadIdx.y; r < rows; r += kRowLanes) {
      const std::int64_t i = r * cols + c;
      Acc g = load(dy[i]);
      if constexpr (kAct) {
        g = math::activation_backward_value<A>(static_cast<Acc>(load(x[i])), g);
        const T stored = store<T>(g);
        dx[i] = stored;
        g = load(stored);  // the sum is of the stored dx, as the CPU's
      }
      s += g;
    }
  }
  part[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    Acc t = 0;
    for (int l = 0; l < kRowLanes; ++l) t += part[l][threadIdx.x];
    if (dbias) dbias[c] = store<T>(load(dbias[c]) + t);
  }
}

template <class T>
__global__ void axpy_kernel(acc_t<T> alpha, const T* x, T* y, std::int64_t n) {
  HPCT_GRID_LOOP(i, n) y[i] = store<T>(load(y[i]) + alpha * load(x[i]));
}

// x *= alpha, alpha a host value or factor[0] (device).
template <class T>
__global__ void scale_kernel(T* x, acc_t<T> alpha, const double* factor, std::int64_t n) {
  const acc_t<T> a = factor ? static_cast<acc_t<T>>(*factor) : alpha;
  HPCT_GRID_LOOP(i, n) x[i] = store<T>(load(x[i]) * a);
}

template <class T, Activation A>
__global__ void activation_forward_kernel(const T* x, T* y, std::int64_t n) {
  HPCT_GRID_LOOP(i, n) y[i] = store<T>(math::activate<A>(static_cast<acc_t<T>>(load(x[i]))));
}

template <class T, Activation A>
__global__ void activation_backward_kernel(const T* x, const T* dy, T* dx, std::int64_t n) {
  HPCT_GRID_LOOP(i, n) {
    const acc_t<T> v = load(x[i]);
    dx[i] = store<T>(math::activation_backward_value<A>(v, static_cast<acc_t<T>>(load(dy[i]))));
  }
}

// y[i] = keep(i) ? x[i] / (1 - p) : 0, keep(i) = (philox bits of counter c(i) >> 8) >= ceil(p 2^24),
// c = math::keyed_index (i, or with row keys row_ids[n] K + k).
template <class T>
__global__ void dropout_kernel(const T* x, T* y, std::int64_t n, std::uint32_t threshold, acc_t<T> keep_prob,
                               std::uint64_t seed, std::uint64_t stream, const std::int64_t* row_ids,
                               std::int64_t per_row) {
  HPCT_GRID_LOOP(i, n) {
    const std::uint64_t u = math::keyed_index(row_ids, i, per_row);
    const U32x4 r = philox4x32(seed, u / 4, stream);
    y[i] = math::dropout_keep(r.v[u % 4], threshold) ? store<T>(load(x[i]) / keep_prob) : store<T>(acc_t<T>(0));
  }
}

}  // namespace

void CudaBackend::bias_add_impl(const Tensor& y, const Tensor& bias) {
  const std::int64_t n = y.numel();
  if (n == 0) return;
  dispatch_float("bias_add", y.dtype, [&](auto z) {
    using T = decltype(z);
    bias_add_kernel<T><<<grid_for(n, sm_count()), kThreads, 0, cur()>>>(y.ptr<T>(), bias.ptr<T>(), n, y.cols());
  });
  HPCT_CUDA_LAUNCH_CHECK();
}

void CudaBackend::bias_grad_impl(const Tensor& dy, const Tensor& dbias) {
  const std::int64_t cols = dy.cols(), rows = dy.rows();
  if (cols == 0 || rows == 0) return;
  const dim3 block(kColTile, kRowLanes), grid(static_cast<unsigned>((cols + kColTile - 1) / kColTile));
  dispatch_float("bias_grad", dy.dtype, [&](auto z) {
    using T = decltype(z);
    column_grad_kernel<T, Activation::identity, false>
        <<<grid, block, 0, cur()>>>(nullptr, dy.ptr<T>(), nullptr, dbias.ptr<T>(), rows, cols);
  });
  HPCT_CUDA_LAUNCH_CHECK();
}

void CudaBackend::activation_bias_grad_impl(Activation f, const Tensor& x, const Tensor& dy, const Tensor& dx,
                                            const Tensor& dbias) {
  const std::int64_t cols = dy.cols(), rows = dy.rows();
  if (cols == 0 || rows == 0) return;
  const dim3 block(kColTile, kRowLanes), grid(static_cast<unsigned>((cols + kColTile - 1) / kColTile));
  dispatch_float("activation_bias_grad", dy.dtype, [&](auto z) {
    using T = decltype(z);
    math::with_activation(f, [&](auto a) {
      column_grad_kernel<T, decltype(a)::value, true>
          <<<grid, block, 0, cur()>>>(x.ptr<T>(), dy.ptr<T>(), dx.ptr<T>(), dbias.ptr<T>(), rows, cols);
    });
  });
  HPCT_CUDA_LAUNCH_CHECK();
}

void CudaBackend::axpy_impl(double alpha, const Tensor& x, const Tensor& y) {
  const std::int64_t n = x.numel();
  if (n == 0) return;
  dispatch_float("axpy", x.dtype, [&](auto z) {
    using T = decltype(z);
    axpy_kernel<T><<<grid_for(n, sm_count()), kThreads, 0, cur()>>>(static_cast<acc_t<T>>(alpha), x.ptr<T>(),
                                                                    y.ptr<T>(), n);
  });
  HPCT_CUDA_LAUNCH_CHECK();
}

void CudaBackend::scale_impl(const Tensor& x, double alpha) {
  const std::int64_t n = x.numel();
  if (n == 0) return;
  dispatch_float("scale", x.dtype, [&](auto z) {
    using T = decltype(z);
    scale_kernel<T><<<grid_for(n, sm_count()), kThreads, 0, cur()>>>(x.ptr<T>(), static_cast<acc_t<T>>(alpha),
                                                                     nullptr, n);
  });
  HPCT_CUDA_LAUNCH_CHECK();
}

void CudaBackend::scale_by_impl(const Tensor& x, const Tensor& factor) {
  const std::int64_t n = x.numel();
  if (n == 0) return;
  dispatch_float("scale_by", x.dtype, [&](auto z) {
    using T = decltype(z);
    scale_kernel<T><<<grid_for(n, sm_count()), kThreads, 0, cur()>>>(x.ptr<T>(), acc_t<T>(1), factor.ptr<double>(),
                                                                     n);
  });
  HPCT_CUDA_LAUNCH_CHECK();
}

void CudaBackend::activation_forward_impl(Activation f, const Tensor& x, const Tensor& y) {
  const std::int64_t n = x.numel();
  if (n == 0) return;
  dispatch_float("activation_forward", x.dtype, [&](auto z) {
    using T = decltype(z);
    math::with_activation(f, [&](auto a) {
      activation_forward_kernel<T, decltype(a)::value>
          <<<grid_for(n, sm_count()), kThreads, 0, cur()>>>(x.ptr<T>(), y.ptr<T>(), n);
    });
  });
  HPCT_CUDA_LAUNCH_CHECK();
}

void CudaBackend::activation_backward_impl(Activation f, const Tensor& x, const Tensor& dy, const Tensor& dx) {
  const std::int64_t n = x.numel();
  if (n == 0) return;
  dispatch_float("activation_backward", x.dtype, [&](auto z) {
    using T = decltype(z);
    math::with_activation(f, [&](auto a) {
      activation_backward_kernel<T, decltype(a)::value>
          <<<grid_for(n, sm_count()), kThreads, 0, cur()>>>(x.ptr<T>(), dy.ptr<T>(), dx.ptr<T>(), n);
    });
  });
  HPCT_CUDA_LAUNCH_CHECK();
}

void CudaBackend::dropout_forward_impl(const Tensor& x, const Tensor& y, double p, std::uint64_t seed,
                                       std::uint64_t stream, const Tensor& row_ids) {
  const std::int64_t n = x.numel();
  if (n == 0) return;
  const std::int64_t per_row = row_ids.empty() ? 1 : n / row_ids.numel();
  check_row_ids(row_ids, math::max_row_key(per_row), cur(), device_error());
  dispatch_float("dropout_forward", x.dtype, [&](auto z) {
    using T = decltype(z);
    dropout_kernel<T><<<grid_for(n, sm_count()), kThreads, 0, cur()>>>(
        x.ptr<T>(), y.ptr<T>(), n, math::dropout_threshold(p), static_cast<acc_t<T>>(1.0 - p), seed, stream,
        row_ids_ptr(row_ids), per_row);
  });
  HPCT_CUDA_LAUNCH_CHECK();
}

// The forward's mask applied to dy.
void CudaBackend::dropout_backward_impl(const Tensor& dy, const Tensor& dx, double p, std::uint64_t seed,
                                        std::uint64_t stream, const Tensor& row_ids) {
  dropout_forward_impl(dy, dx, p, seed, stream, row_ids);
}

}  // namespace hpct::kernels::cuda
