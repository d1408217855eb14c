// CudaBackend: the three 1-D convolution kernels on channels-last sequences (Conv1dGeom in kernels.hpp):
// forward, backward-data and backward-filter (+ bias), with the CPU's semantics (the reference:
// kernels/cpu/cpu_conv.cpp): any stride, padding and dilation, the transposed conv's bias on x, and the
// per-sequence valid lengths (x read as zero past vx, outputs past vy written as zero, dy there ignored).
//
// cuDNN runs the products where it can (cuda_cudnn_conv.hpp): the inputs' masked positions zeroed in a
// copy (only with lengths), the filter repacked to [Cy, K, Cx], and afterwards the bias added and the
// masked outputs zeroed here (the filter gradient is added back into dw's [Cy, Cx, K]). Where cuDNN has
// no deterministic algorithm (or HPCTRAIN_CUDNN_CONV=0), direct kernels: sums in double, every output
// element with one owner (a thread, or a block reducing in a fixed order), so the bits do not change
// between runs. The bias gradients are always the direct column sums.
//
// Notation: x [N, Lx, Cx], y [N, Ly, Cy], w [Cy, Cx, K]; input position of output o and tap k:
//   i(o, k) = o S - P + k D.
#include <cstdint>
#include <memory>

#include "kernels/common/conv_lengths.hpp"
#include "kernels/cuda/cuda_backend.hpp"
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_cudnn_conv.hpp"

namespace hpct::kernels::cuda {
namespace {

struct ConvDims {
  std::int64_t batch, lx, cx, ly, cy, kk, stride, padding, dilation;
  const std::int32_t* lengths;  // x's (conv) or y's (transposed); null: all valid
  bool transposed;
  // Valid positions of sequence n (Conv1dGeom).
  __device__ std::int64_t vx(std::int64_t n) const {
    if (!lengths) return lx;
    if (!transposed) return valid_length(lengths, n, lx);
    return math::conv_transpose_valid_out(valid_length(lengths, n, ly), stride, lx);
  }
  __device__ std::int64_t vy(std::int64_t n) const {
    if (!lengths) return ly;
    if (transposed) return valid_length(lengths, n, ly);
    return math::conv_valid_out(valid_length(lengths, n, lx), stride, ly);
  }
  __device__ std::int64_t w_index(std::int64_t c, std::int64_t ci, std::int64_t t) const {
    return (c * cx + ci) * kk + t;
  }
};

// y[n, o, c] = o < vy ? bias[c] + sum_k sum_ci w[c, ci, k] x[n, i(o, k), ci] : 0, i(o, k) in [0, vx).
template <class T>
__global__ void conv_forward_kernel(ConvDims d, const T* x, const T* w, const T* bias, T* y) {
  HPCT_GRID_LOOP(e, d.batch * d.ly * d.cy) {
    const std::int64_t c = e % d.cy, o = e / d.cy % d.ly, n = e / d.cy / d.ly;
    if (o >= d.vy(n)) {
      y[e] = store<T>(0.0);
      continue;
    }
    const std::int64_t vx = d.vx(n);
    double acc = bias ? static_cast<double>(load(bias[c])) : 0.0;
    for (std::int64_t t = 0; t < d.kk; ++t) {
      const std::int64_t i = o * d.stride - d.padding + t * d.dilation;
      if (i < 0 || i >= vx) continue;
      const T* xr = x + (n * d.lx + i) * d.cx;
      double s = 0.0;
      for (std::int64_t ci = 0; ci < d.cx; ++ci)
        s += static_cast<double>(load(w[d.w_index(c, ci, t)])) * static_cast<double>(load(xr[ci]));
      acc += s;
    }
    y[e] = store<T>(acc);
  }
}

// dx[n, i, ci] = i < vx ? bias[ci] + sum_{k : o = (i + P - k D) / S exact, 0 <= o < vy} sum_c w[c, ci, k] dy[n, o, c]
// : 0 (bias only for a transposed conv's forward).
template <class T>
__global__ void conv_backward_data_kernel(ConvDims d, const T* dy, const T* w, const T* bias, T* dx) {
  HPCT_GRID_LOOP(e, d.batch * d.lx * d.cx) {
    const std::int64_t ci = e % d.cx, i = e / d.cx % d.lx, n = e / d.cx / d.lx;
    if (i >= d.vx(n)) {
      dx[e] = store<T>(0.0);
      continue;
    }
    const std::int64_t vy = d.vy(n);
    double acc = bias ? static_cast<double>(load(bias[ci])) : 0.0;
    for (std::int64_t t = 0; t < d.kk; ++t) {
      const std::int64_t num = i + d.padding - t * d.dilation;
      if (num < 0 || num % d.stride != 0) continue;
      const std::int64_t o = num / d.stride;
      if (o >= vy) continue;
      const T* gr = dy + (n * d.ly + o) * d.cy;
      double s = 0.0;
      for (std::int64_t c = 0; c < d.cy; ++c)
        s += static_cast<double>(load(w[d.w_index(c, ci, t)])) * static_cast<double>(load(gr[c]));
      acc += s;
    }
    dx[e] = store<T>(acc);
  }
}

// dw[c, ci, k] += sum_{n, o < vy, i(o, k) in [0, vx)} dy[n, o, c] x[n, i(o, k), ci]: one block per
// element of dw, the (n, o) pairs strided over its threads, then a block sum.
template <class T>
__global__ void conv_backward_filter_kernel(ConvDims d, const T* x, const T* dy, T* dw) {
  const std::int64_t widx = blockIdx.x, t = widx % d.kk, ci = widx / d.kk % d.cx, c = widx / d.kk / d.cx;
  double s = 0.0;
  for (std::int64_t q = threadIdx.x; q < d.batch * d.ly; q += blockDim.x) {
    const std::int64_t n = q / d.ly, o = q % d.ly;
    if (o >= d.vy(n)) continue;
    const std::int64_t i = o * d.stride - d.padding + t * d.dilation;
    if (i < 0 || i >= d.vx(n)) continue;
    s += static_cast<double>(load(dy[q * d.cy + c])) * static_cast<double>(load(x[(n * d.lx + i) * d.cx + ci]));
  }
  s = block_sum(s);
  if (threadIdx.x == 0) dw[widx] = store<T>(static_cast<double>(load(dw[widx])) + s);
}

// db[col] += sum_{n, l < valid(n)} a[n, l, col], a [N, L, C]: the conv's bias gradient (a = dy, valid =
// vy) or the transposed conv's (a = x, its input gradient side, valid = vx). One block per column.
template <class T, bool kOnY>
__global__ void conv_bias_grad_kernel(ConvDims d, const T* a, T* db) {
  const std::int64_t col = blockIdx.x, len = kOnY ? d.ly : d.lx, cols = kOnY ? d.cy : d.cx;
  double s = 0.0;
  for (std::int64_t q = threadIdx.x; q < d.batch * len; q += blockDim.x) {
    const std::int64_t n = q / len, l = q % len;
    if (l < (kOnY ? d.vy(n) : d.vx(n))) s += static_cast<double>(load(a[q * cols + col]));
  }
  s = block_sum(s);
  if (threadIdx.x == 0) db[col] = store<T>(static_cast<double>(load(db[col])) + s);
}

// dst = src with the rows of masked positions zero: a [N, L, C] on x's side (kOnY false) or y's. Words.
template <class W, bool kOnY>
__global__ void conv_mask_kernel(ConvDims d, const W* src, W* dst) {
  const std::int64_t len = kOnY ? d.ly : d.lx, cols = kOnY ? d.cy : d.cx;
  HPCT_GRID_LOOP(e, d.batch * len * cols) {
    const std::int64_t l = e / cols % len, n = e / cols / len;
    dst[e] = l < (kOnY ? d.vy(n) : d.vx(n)) ? src[e] : W(0);
  }
}

// After cuDNN: a[n, l, c] = l < valid ? a + bias[c] : 0 (bias may be null), on either side.
template <class T, bool kOnY>
__global__ void conv_epilogue_kernel(ConvDims d, const T* bias, T* a) {
  const std::int64_t len = kOnY ? d.ly : d.lx, cols = kOnY ? d.cy : d.cx;
  HPCT_GRID_LOOP(e, d.batch * len * cols) {
    const std::int64_t c = e % cols, l = e / cols % len, n = e / cols / len;
    if (l >= (kOnY ? d.vy(n) : d.vx(n)))
      a[e] = store<T>(0.0f);
    else if (bias)
      a[e] = store<T>(load(a[e]) + load(bias[c]));
  }
}

// w [Cy, Cx, K] -> krsc [Cy, K, Cx] (words).
template <class W>
__global__ void filter_to_krsc_kernel(ConvDims d, const W* w, W* krsc) {
  HPCT_GRID_LOOP(e, d.cy * d.cx * d.kk) {
    const std::int64_t t = e % d.kk, ci = e / d.kk % d.cx, c = e / d.kk / d.cx;
    krsc[(c * d.kk + t) * d.cx + ci] = w[e];
  }
}

// dw[c, ci, k] += krsc[c, k, ci]
template <class T>
__global__ void filter_add_krsc_kernel(ConvDims d, const T* krsc, T* dw) {
  HPCT_GRID_LOOP(e, d.cy * d.cx * d.kk) {
    const std::int64_t t = e % d.kk, ci = e / d.kk % d.cx, c = e / d.kk / d.cx;
    dw[e] = store<T>(load(dw[e]) + load(krsc[(c * d.kk + t) * d.cx + ci]));
  }
}

ConvDims conv_dims(const Tensor& x, const Tensor& y, std::int64_t kk, const Conv1dGeom& g) {
  return {x.dim(0),    x.dim(1), x.dim(2),  y.dim(1),   y.dim(2),
          kk,          g.stride, g.padding, g.dilation, lengths_ptr(g.lengths),
          g.transposed};
}

// A copy of a [N, L, C] (x's side or y's) with the masked positions zero; a itself without lengths.
class MaskedInput {
 public:
  MaskedInput(CudaBackend& be, const ConvDims& d, const Tensor& a, bool on_y) {
    if (!d.lengths) {
      p_ = a.data;
      return;
    }
    scratch_ = std::make_unique<Scratch>(a.bytes(), be.cur());
    void* dst = scratch_->as<void>();
    p_ = dst;
    const std::int64_t n = a.numel();
    dispatch_word(size_of(a.dtype), [&](auto w) {
      using W = decltype(w);
      if (on_y)
        conv_mask_kernel<W, true><<<grid_for(n, be.sm_count()), kThreads, 0, be.cur()>>>(
            d, static_cast<const W*>(a.data), static_cast<W*>(dst));
      else
        conv_mask_kernel<W, false><<<grid_for(n, be.sm_count()), kThreads, 0, be.cur()>>>(
            d, static_cast<const W*>(a.data), static_cast<W*>(dst));
    });
    HPCT_CUDA_LAUNCH_CHECK();
  }
  const void* get() const { return p_; }

 private:
  std::unique_ptr<Scratch> scratch_;
  const void* p_ = nullptr;
};

// The pass through cuDNN (see the top of the file); false, with nothing enqueued, where it cannot run.
// forward: y = conv(x, w); backward_data: x = conv^T(y, w); backward_filter: w += dW(x, y). Raw results:
// the callers add biases and zero the masked outputs.
bool cudnn_pass(CudaBackend& be, ConvPass pass, const ConvDims& d, const Tensor& x, const Tensor& w, const Tensor& y) {
  if (x.numel() == 0 || w.numel() == 0 || y.numel() == 0) return false;
  const ConvProblem p{pass, x.dtype, d.batch, d.lx, d.cx, d.ly, d.cy, d.kk, d.stride, d.padding, d.dilation};
  CudnnConv& dnn = be.cudnn_conv();
  if (!dnn.available(p)) return false;
  const std::int64_t wn = w.numel();
  const Scratch krsc(w.bytes(), be.cur());
  if (pass != ConvPass::backward_filter) {
    dispatch_word(size_of(w.dtype), [&](auto z) {
      using W = decltype(z);
      filter_to_krsc_kernel<W>
          <<<grid_for(wn, be.sm_count()), kThreads, 0, be.cur()>>>(d, static_cast<const W*>(w.data), krsc.as<W>());
    });
    HPCT_CUDA_LAUNCH_CHECK();
  }
  switch (pass) {
    case ConvPass::forward: {
      const MaskedInput xin(be, d, x, false);
      dnn.run(p, xin.get(), krsc.as<void>(), y.data, be.cur());
      break;
    }
    case ConvPass::backward_data: {
      const MaskedInput yin(be, d, y, true);
      dnn.run(p, yin.get(), krsc.as<void>(), x.data, be.cur());
      break;
    }
    case ConvPass::backward_filter: {
      const MaskedInput xin(be, d, x, false), yin(be, d, y, true);
      dnn.run(p, xin.get(), yin.get(), krsc.as<void>(), be.cur());
      dispatch_float("conv1d_backward_filter", w.dtype, [&](auto z) {
        using T = decltype(z);
        filter_add_krsc_kernel<T><<<grid_for(wn, be.sm_count()), kThreads, 0, be.cur()>>>(d, krsc.as<T>(), w.ptr<T>());
      });
      HPCT_CUDA_LAUNCH_CHECK();
      break;
    }
  }
  return true;
}

// After a cuDNN forward or backward-data: bias added and masked positions zeroed on a's side.
void conv_epilogue(CudaBackend& be, const ConvDims& d, const Tensor& bias, const Tensor& a, bool on_y) {
  if (bias.empty() && !d.lengths) return;
  const std::int64_t n = a.numel();
  dispatch_float("conv1d", a.dtype, [&](auto z) {
    using T = decltype(z);
    const T* b = bias.empty() ? nullptr : bias.ptr<T>();
    if (on_y)
      conv_epilogue_kernel<T, true><<<grid_for(n, be.sm_count()), kThreads, 0, be.cur()>>>(d, b, a.ptr<T>());
    else
      conv_epilogue_kernel<T, false><<<grid_for(n, be.sm_count()), kThreads, 0, be.cur()>>>(d, b, a.ptr<T>());
  });
  HPCT_CUDA_LAUNCH_CHECK();
}

}  // namespace

void CudaBackend::conv1d_forward_impl(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y,
                                      const Conv1dGeom& g) {
  const ConvDims d = conv_dims(x, y, w.dim(2), g);
  if (y.numel() == 0) return;
  check_lengths(g.lengths, g.transposed ? d.ly : d.lx, cur(), device_error());
  if (cudnn_pass(*this, ConvPass::forward, d, x, w, y)) {
    conv_epilogue(*this, d, bias, y, true);
    return;
  }
  dispatch_float("conv1d_forward", x.dtype, [&](auto z) {
    using T = decltype(z);
    conv_forward_kernel<T><<<grid_for(y.numel(), sm_count()), kThreads, 0, cur()>>>(
        d, x.ptr<T>(), w.ptr<T>(), bias.empty() ? nullptr : bias.ptr<T>(), y.ptr<T>());
  });
  HPCT_CUDA_LAUNCH_CHECK();
}

void CudaBackend::conv1d_backward_data_impl(const Tensor& dy, const Tensor& w, const Tensor& bias, const Tensor& dx,
                                            const Conv1dGeom& g) {
  const ConvDims d = conv_dims(dx, dy, w.dim(2), g);
  if (dx.numel() == 0) return;
  check_lengths(g.lengths, g.transposed ? d.ly : d.lx, cur(), device_error());
  if (cudnn_pass(*this, ConvPass::backward_data, d, dx, w, dy)) {
    conv_epilogue(*this, d, bias, dx, false);
    return;
  }
  dispatch_float("conv1d_backward_data", dx.dtype, [&](auto z) {
    using T = decltype(z);
    conv_backward_data_kernel<T><<<grid_for(dx.numel(), sm_count()), kThreads, 0, cur()>>>(
        d, dy.ptr<T>(), w.ptr<T>(), bias.empty() ? nullptr : bias.ptr<T>(), dx.ptr<T>());
  });
  HPCT_CUDA_LAUNCH_CHECK();
}

void CudaBackend::conv1d_backward_filter_impl(const Tensor& x, const Tensor& dy, const Tensor& dw, const Tensor& dbias,
                                              const Conv1dGeom& g) {
  const ConvDims d = conv_dims(x, dy, dw.dim(2), g);
  check_lengths(g.lengths, g.transposed ? d.ly : d.lx, cur(), device_error());
  dispatch_float("conv1d_backward_filter", x.dtype, [&](auto z) {
    using T = decltype(z);
    if (dw.numel() > 0 && !cudnn_pass(*this, ConvPass::backward_filter, d, x, dw, dy)) {
      conv_backward_filter_kernel<T>
          <<<static_cast<unsigned>(dw.numel()), kThreads, 0, cur()>>>(d, x.ptr<T>(), dy.ptr<T>(), dw.ptr<T>());
      HPCT_CUDA_LAUNCH_CHECK();
    }
    if (dbias.numel() == 0) return;
    if (g.transposed)
      conv_bias_grad_kernel<T, false>
          <<<static_cast<unsigned>(d.cx), kThreads, 0, cur()>>>(d, x.ptr<T>(), dbias.ptr<T>());
    else
      conv_bias_grad_kernel<T, true>
          <<<static_cast<unsigned>(d.cy), kThreads, 0, cur()>>>(d, dy.ptr<T>(), dbias.ptr<T>());
    HPCT_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace hpct::kernels::cuda
