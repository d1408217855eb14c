// CudaBackend: the semi-supervised VAE's kernels (model ssvae; the math is in kernels.hpp above each
// call, the reference is kernels/cpu/cpu_ssvae.cpp). Float32 and float64 only, as the CPU's; sums in
// double. normal_fill draws the CPU's numbers: Box-Muller on the same Philox elements (core/philox.hpp is
// host and device code).
#include <cmath>
#include <cstdint>
#include <numbers>

#include "core/philox.hpp"
#include "kernels/common/math.hpp"
#include "kernels/cuda/cuda_backend.hpp"
#include "kernels/cuda/cuda_common.cuh"

namespace hpct::kernels::cuda {
namespace {

// Rows paired with classes: out[r, :] = [a[src(r), :], onehot(r mod C)], src = r / C with expand, else r.
template <class T>
__global__ void class_concat_forward_kernel(const T* a, T* out, std::int64_t rows, std::int64_t k, std::int64_t classes,
                                            bool expand) {
  const std::int64_t w = k + classes;
  HPCT_GRID_LOOP(e, rows * w) {
    const std::int64_t r = e / w, j = e % w, src = expand ? r / classes : r;
    out[e] = j < k ? a[src * k + j] : (j - k == r % classes ? T(1) : T(0));
  }
}

// da[r, j] = sum over the rows made from a_r of dout[row, j], in order, in double.
template <class T>
__global__ void class_concat_backward_kernel(const T* dout, T* da, std::int64_t rows, std::int64_t k,
                                             std::int64_t classes, std::int64_t copies) {
  const std::int64_t w = k + classes;
  HPCT_GRID_LOOP(e, rows * k) {
    const std::int64_t r = e / k, j = e % k;
    double s = 0.0;
    for (std::int64_t c = 0; c < copies; ++c) s += static_cast<double>(dout[(r * copies + c) * w + j]);
    da[e] = static_cast<T>(s);
  }
}

// out[i] = sqrt(-2 ln(1 - u1)) cos(2 pi u2), u1, u2 the Philox uniforms of elements 2i and 2i + 1; with
// row keys, of elements 2k and 2k + 1 (k = i - r K) of row r's stream (math::row_stream).
template <class T>
__global__ void normal_fill_kernel(T* out, std::int64_t n, std::uint64_t seed, std::uint64_t stream, double two_pi,
                                   const std::int64_t* row_ids, std::int64_t per_row) {
  HPCT_GRID_LOOP(i, n) {
    const std::int64_t r = row_ids ? i / per_row : 0;
    const std::uint64_t s = row_ids ? math::row_stream(stream, row_ids[r]) : stream;
    const auto u = static_cast<std::uint64_t>(i - r * per_row);
    const auto u1 = static_cast<double>(philox_uniform(seed, s, 2 * u));
    const auto u2 = static_cast<double>(philox_uniform(seed, s, 2 * u + 1));
    out[i] = static_cast<T>(sqrt(-2.0 * log(1.0 - u1)) * cos(two_pi * u2));
  }
}

// z = mu + exp(lv / 2) eps with enc [M, 2K] = (mu, lv), in T as the CPU's.
template <class T>
__global__ void reparam_forward_kernel(const T* enc, const T* eps, T* z, std::int64_t m, std::int64_t k) {
  HPCT_GRID_LOOP(e, m * k) {
    const std::int64_t r = e / k, j = e % k;
    z[e] = enc[r * 2 * k + j] + math::hd_exp(T(0.5) * enc[r * 2 * k + k + j]) * eps[e];
  }
}

// denc[:, :K] += dz; denc[:, K:] += dz eps exp(lv / 2) / 2
template <class T>
__global__ void reparam_backward_kernel(const T* enc, const T* eps, const T* dz, T* denc, std::int64_t m,
                                        std::int64_t k) {
  HPCT_GRID_LOOP(e, m * k) {
    const std::int64_t r = e / k, j = e % k;
    const T gz = dz[e];
    denc[r * 2 * k + j] += gz;
    denc[r * 2 * k + k + j] += gz * eps[e] * T(0.5) * math::hd_exp(T(0.5) * enc[r * 2 * k + k + j]);
  }
}

struct SsvaeDims {
  std::int64_t f, classes, kk;
  double alpha;
  bool gaussian;
  double log_c, half_log_2pi;
  double grad_scale;
  const double* multiplier;  // null: 1
};

// One block per row n: q = softmax(z_n) and logsumexp (thread 0), L(n, c) for the classes with weight
// (block sums of R and KL in double), the row's objective into row_loss[n], then the gradients.
template <class T>
__global__ void ssvae_row_kernel(SsvaeDims d, const T* x, const T* logits, const std::int32_t* labels, const T* enc,
                                 const T* recon, double* row_loss, T* dlogits, T* denc, T* drecon, DeviceError* err) {
  extern __shared__ double sh[];
  double* q = sh;                  // [C] softmax(z_n)
  double* big_l = sh + d.classes;  // [C] L(n, c) (0 where the weight is 0)
  double* g = sh + 2 * d.classes;  // [C] L(n, c) + log q_c (unlabelled rows)
  __shared__ double s_gbar;
  const std::int64_t r = blockIdx.x, classes = d.classes, f = d.f, kk = d.kk;
  const std::int32_t lab = labels[r];
  if (!((lab >= 0 && lab < classes) || lab == -1)) {
    if (threadIdx.x == 0) {
      err->report(DeviceError::ssvae_label_out_of_range, r, lab, classes);
      row_loss[r] = 0.0;
    }
    return;
  }
  const T* z = logits + r * classes;
  const bool labelled = lab >= 0;
  if (threadIdx.x == 0) {
    double mx = z[0];
    for (std::int64_t c = 1; c < classes; ++c) mx = fmax(mx, static_cast<double>(z[c]));
    double se = 0.0;
    for (std::int64_t c = 0; c < classes; ++c) se += exp(static_cast<double>(z[c]) - mx);
    const double lse = mx + log(se);
    for (std::int64_t c = 0; c < classes; ++c) {
      q[c] = exp(static_cast<double>(z[c]) - lse);
      g[c] = static_cast<double>(z[c]) - lse;  // log q_c for now
    }
  }
  const T* xr = x + r * f;
  for (std::int64_t c = 0; c < classes; ++c) {
    if (labelled && c != lab) {  // weight 0: not part of the objective
      if (threadIdx.x == 0) big_l[c] = 0.0;
      continue;
    }
    const std::int64_t pr = r * classes + c;
    const T* rr = recon + pr * f;
    double rec = 0.0;
    for (std::int64_t j = threadIdx.x; j < f; j += blockDim.x) {
      const double v = rr[j], t = xr[j];
      rec += d.gaussian ? 0.5 * (t - v) * (t - v) + d.half_log_2pi : fmax(v, 0.0) - v * t + log1p(exp(-fabs(v)));
    }
    rec = block_sum(rec);
    const T* e = enc + pr * 2 * kk;
    double kl = 0.0;
    for (std::int64_t j = threadIdx.x; j < kk; j += blockDim.x) {
      const double mu = e[j], lv = e[kk + j];
      kl += 0.5 * (mu * mu + exp(lv) - 1.0 - lv);
    }
    kl = block_sum(kl);
    if (threadIdx.x == 0) big_l[c] = rec + kl + d.log_c;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    double row = 0.0;
    if (labelled) {
      row = big_l[lab] + d.alpha * (-g[lab]);  // lse - z_lab = -log q_lab
    } else {
      for (std::int64_t c = 0; c < classes; ++c) {
        g[c] += big_l[c];
        row += q[c] * g[c];
      }
    }
    s_gbar = row;
    row_loss[r] = row;
  }
  __syncthreads();
  if (!dlogits) return;
  const double scale = d.grad_scale * (d.multiplier ? *d.multiplier : 1.0);
  for (std::int64_t c = threadIdx.x; c < classes; c += blockDim.x) {
    const double dl = labelled ? d.alpha * (q[c] - (c == lab ? 1.0 : 0.0)) : q[c] * (g[c] - s_gbar);
    dlogits[r * classes + c] = static_cast<T>(scale * dl);
  }
  for (std::int64_t e = threadIdx.x; e < classes * f; e += blockDim.x) {
    const std::int64_t c = e / f, j = e % f, pr = r * classes + c;
    const double w = scale * (labelled ? (c == lab ? 1.0 : 0.0) : q[c]);
    const double v = recon[pr * f + j], t = xr[j];
    const double dv = d.gaussian ? v - t : 1.0 / (1.0 + exp(-v)) - t;
    drecon[pr * f + j] = static_cast<T>(w * dv);
  }
  for (std::int64_t e = threadIdx.x; e < classes * kk; e += blockDim.x) {
    const std::int64_t c = e / kk, j = e % kk, pr = r * classes + c;
    const double w = scale * (labelled ? (c == lab ? 1.0 : 0.0) : q[c]);
    const T* en = enc + pr * 2 * kk;
    denc[pr * 2 * kk + j] = static_cast<T>(w * static_cast<double>(en[j]));
    denc[pr * 2 * kk + kk + j] = static_cast<T>(w * 0.5 * (exp(static_cast<double>(en[kk + j])) - 1.0));
  }
}

// acc += {sum_n row_loss[n], N}: one block, a fixed order.
__global__ void ssvae_total_kernel(const double* row_loss, std::int64_t n, double* acc) {
  double s = 0.0;
  for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) s += row_loss[i];
  s = block_sum(s);
  if (threadIdx.x == 0) {
    acc[0] += s;
    acc[1] += static_cast<double>(n);
  }
}

// Calls f(T{}) with float or double (the ssvae kernels' dtypes, checked by kernels/backend.cpp).
template <class F>
void dispatch_ssvae(DType t, F&& f) {
  if (t == DType::f64)
    f(double{});
  else
    f(float{});
}

}  // namespace

void CudaBackend::class_concat_forward_impl(const Tensor& a, std::int64_t classes, bool expand, const Tensor& out) {
  const std::int64_t rows = out.dim(0);
  if (out.numel() == 0) return;
  dispatch_ssvae(a.dtype, [&](auto z) {
    using T = decltype(z);
    class_concat_forward_kernel<T><<<grid_for(out.numel(), sm_count()), kThreads, 0, cur()>>>(
        a.ptr<T>(), out.ptr<T>(), rows, a.dim(1), classes, expand);
  });
  HPCT_CUDA_LAUNCH_CHECK();
}

void CudaBackend::class_concat_backward_impl(const Tensor& dout, std::int64_t classes, bool expand, const Tensor& da) {
  if (da.numel() == 0) return;
  dispatch_ssvae(da.dtype, [&](auto z) {
    using T = decltype(z);
    class_concat_backward_kernel<T><<<grid_for(da.numel(), sm_count()), kThreads, 0, cur()>>>(
        dout.ptr<T>(), da.ptr<T>(), da.dim(0), da.dim(1), classes, expand ? classes : 1);
  });
  HPCT_CUDA_LAUNCH_CHECK();
}

void CudaBackend::normal_fill_impl(const Tensor& out, std::uint64_t seed, std::uint64_t stream,
                                   const Tensor& row_ids) {
  const std::int64_t n = out.numel();
  if (n == 0) return;
  const std::int64_t per_row = row_ids.empty() ? n : n / row_ids.numel();
  check_row_ids(row_ids, math::kMaxNoiseRow, cur(), device_error());
  dispatch_ssvae(out.dtype, [&](auto z) {
    using T = decltype(z);
    normal_fill_kernel<T><<<grid_for(n, sm_count()), kThreads, 0, cur()>>>(
        out.ptr<T>(), n, seed, stream, 2.0 * std::numbers::pi, row_ids_ptr(row_ids), per_row);
  });
  HPCT_CUDA_LAUNCH_CHECK();
}

void CudaBackend::reparam_forward_impl(const Tensor& enc, const Tensor& eps, const Tensor& z) {
  const std::int64_t m = eps.dim(0), k = eps.dim(1);
  if (m * k == 0) return;
  dispatch_ssvae(eps.dtype, [&](auto zero) {
    using T = decltype(zero);
    reparam_forward_kernel<T>
        <<<grid_for(m * k, sm_count()), kThreads, 0, cur()>>>(enc.ptr<T>(), eps.ptr<T>(), z.ptr<T>(), m, k);
  });
  HPCT_CUDA_LAUNCH_CHECK();
}

void CudaBackend::reparam_backward_impl(const Tensor& enc, const Tensor& eps, const Tensor& dz, const Tensor& denc) {
  const std::int64_t m = eps.dim(0), k = eps.dim(1);
  if (m * k == 0) return;
  dispatch_ssvae(eps.dtype, [&](auto zero) {
    using T = decltype(zero);
    reparam_backward_kernel<T><<<grid_for(m * k, sm_count()), kThreads, 0, cur()>>>(enc.ptr<T>(), eps.ptr<T>(),
                                                                                    dz.ptr<T>(), denc.ptr<T>(), m, k);
  });
  HPCT_CUDA_LAUNCH_CHECK();
}

void CudaBackend::ssvae_objective_impl(const Tensor& x, const Tensor& logits, const Tensor& labels, const Tensor& enc,
                                       const Tensor& recon, const SsvaeArgs& ssvae, const LossArgs& args,
                                       const Tensor& acc, const Tensor& dlogits, const Tensor& denc,
                                       const Tensor& drecon) {
  const std::int64_t n = x.dim(0), classes = logits.dim(1);
  if (n == 0) return;
  const SsvaeDims d{x.dim(1),
                    classes,
                    enc.dim(1) / 2,
                    ssvae.alpha,
                    ssvae.gaussian,
                    std::log(static_cast<double>(classes)),
                    0.5 * std::log(2.0 * std::numbers::pi),
                    args.grad_scale,
                    args.grad_multiplier.empty() ? nullptr : args.grad_multiplier.ptr<double>()};
  const Scratch rows(static_cast<std::size_t>(n) * sizeof(double), cur());
  const bool grads = !dlogits.empty();
  dispatch_ssvae(x.dtype, [&](auto z) {
    using T = decltype(z);
    ssvae_row_kernel<T><<<static_cast<unsigned>(n), kThreads, 3 * classes * sizeof(double), cur()>>>(
        d, x.ptr<T>(), logits.ptr<T>(), labels.ptr<std::int32_t>(), enc.ptr<T>(), recon.ptr<T>(), rows.as<double>(),
        grads ? dlogits.ptr<T>() : nullptr, grads ? denc.ptr<T>() : nullptr, grads ? drecon.ptr<T>() : nullptr,
        device_error());
  });
  HPCT_CUDA_LAUNCH_CHECK();
  ssvae_total_kernel<<<1, kThreads, 0, cur()>>>(rows.as<double>(), n, acc.ptr<double>());
  HPCT_CUDA_LAUNCH_CHECK();
}

}  // namespace hpct::kernels::cuda
