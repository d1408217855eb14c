// CpuBackend: the semi-supervised VAE's kernels (model ssvae; the math is in kernels.hpp above each
// call). Float32 only; sums in double, row by row in a fixed order (the same bits for any thread count).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <vector>

#include "core/philox.hpp"
#include "kernels/common/math.hpp"
#include "kernels/cpu/cpu_backend.hpp"
#include "kernels/cpu/cpu_common.hpp"

namespace hpct::kernels {
namespace {

template <class T>
void class_concat_forward_t(const Tensor& a, std::int64_t classes, bool expand, const Tensor& out) {
  const std::int64_t rows = out.dim(0), k = a.dim(1), w = k + classes;
  const T* ap = a.ptr<T>();
  T* op = out.ptr<T>();
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int64_t src = expand ? r / classes : r, cls = r % classes;
    T* o = op + r * w;
    std::copy(ap + src * k, ap + (src + 1) * k, o);
    std::fill(o + k, o + w, T(0));
    o[k + cls] = T(1);
  }
}

template <class T>
void class_concat_backward_t(const Tensor& dout, std::int64_t classes, bool expand, const Tensor& da) {
  const std::int64_t rows = da.dim(0), k = da.dim(1), w = k + classes, copies = expand ? classes : 1;
  const T* gp = dout.ptr<T>();
  T* dp = da.ptr<T>();
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t j = 0; j < k; ++j) {
      double s = 0.0;
      for (std::int64_t c = 0; c < copies; ++c) s += static_cast<double>(gp[(r * copies + c) * w + j]);
      dp[r * k + j] = static_cast<T>(s);
    }
}

// Box-Muller on the Philox uniforms of elements 2i, 2i + 1; with row keys each row of K elements counts
// from 0 in its own stream (math::row_stream).
template <class T>
void normal_fill_t(const Tensor& out, std::uint64_t seed, std::uint64_t stream, const Tensor& row_ids) {
  T* p = out.ptr<T>();
  const std::int64_t n = out.numel();
  const std::int64_t* rows = cpu::checked_row_ids("normal_fill", row_ids, math::kMaxNoiseRow);
  const std::int64_t per_row = rows ? n / row_ids.numel() : n;
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t r = i / std::max<std::int64_t>(per_row, 1);
    const std::uint64_t s = rows ? math::row_stream(stream, rows[r]) : stream;
    const auto u = static_cast<std::uint64_t>(i - r * per_row);
    const double u1 = static_cast<double>(philox_uniform(seed, s, 2 * u));
    const double u2 = static_cast<double>(philox_uniform(seed, s, 2 * u + 1));
    p[i] = static_cast<T>(std::sqrt(-2.0 * std::log(1.0 - u1)) * std::cos(2.0 * std::numbers::pi * u2));
  }
}

template <class T>
void reparam_forward_t(const Tensor& enc, const Tensor& eps, const Tensor& z) {
  const std::int64_t m = eps.dim(0), k = eps.dim(1);
  const T* e = enc.ptr<T>();
  const T* ep = eps.ptr<T>();
  T* zp = z.ptr<T>();
  for (std::int64_t r = 0; r < m; ++r)
    for (std::int64_t j = 0; j < k; ++j)
      zp[r * k + j] = e[r * 2 * k + j] + std::exp(T(0.5) * e[r * 2 * k + k + j]) * ep[r * k + j];
}

template <class T>
void reparam_backward_t(const Tensor& enc, const Tensor& eps, const Tensor& dz, const Tensor& denc) {
  const std::int64_t m = eps.dim(0), k = eps.dim(1);
  const T* e = enc.ptr<T>();
  const T* ep = eps.ptr<T>();
  const T* g = dz.ptr<T>();
  T* d = denc.ptr<T>();
  for (std::int64_t r = 0; r < m; ++r)
    for (std::int64_t j = 0; j < k; ++j) {
      const T gz = g[r * k + j];
      d[r * 2 * k + j] += gz;
      d[r * 2 * k + k + j] += gz * ep[r * k + j] * T(0.5) * std::exp(T(0.5) * e[r * 2 * k + k + j]);
    }
}

template <class T>
void ssvae_objective_t(const Tensor& x, const Tensor& logits, const Tensor& labels, const Tensor& enc,
                                      const Tensor& recon, const SsvaeArgs& ssvae, const LossArgs& args,
                                      const Tensor& acc, const Tensor& dlogits, const Tensor& denc,
                                      const Tensor& drecon) {
  constexpr const char* k = "ssvae_objective";
  const std::int64_t n = x.dim(0), f = x.dim(1), classes = logits.dim(1), kk = enc.dim(1) / 2;
  const T* xp = x.ptr<T>();
  const T* zp = logits.ptr<T>();
  const std::int32_t* lab = labels.ptr<std::int32_t>();
  const T* ep = enc.ptr<T>();
  const T* rp = recon.ptr<T>();
  const bool grads = !dlogits.empty();
  double scale = args.grad_scale;
  if (!args.grad_multiplier.empty()) scale *= *args.grad_multiplier.ptr<double>();
  const double log_c = std::log(static_cast<double>(classes));
  const double half_log_2pi = 0.5 * std::log(2.0 * std::numbers::pi);
  std::vector<double> q(static_cast<std::size_t>(classes)), big_l(q.size()), g(q.size());
  double total = 0.0;
  for (std::int64_t r = 0; r < n; ++r) {
    HPCT_CHECK((lab[r] >= 0 && lab[r] < classes) || lab[r] == -1, k, ": label ", lab[r], " of row ", r,
               " is out of range [0, ", classes, ") (and not -1 = unlabelled)");
    const T* z = zp + r * classes;
    double mx = z[0];
    for (std::int64_t c = 1; c < classes; ++c) mx = std::max(mx, static_cast<double>(z[c]));
    double se = 0.0;
    for (std::int64_t c = 0; c < classes; ++c) se += std::exp(static_cast<double>(z[c]) - mx);
    const double lse = mx + std::log(se);
    for (std::int64_t c = 0; c < classes; ++c) q[c] = std::exp(static_cast<double>(z[c]) - lse);
    const T* xr = xp + r * f;
    const bool labelled = lab[r] >= 0;
    for (std::int64_t c = 0; c < classes; ++c) {
      const std::int64_t pr = r * classes + c;
      if (labelled && c != lab[r]) {  // weight 0: not part of the objective
        big_l[c] = 0.0;
        continue;
      }
      const T* rr = rp + pr * f;
      double rec = 0.0;
      for (std::int64_t j = 0; j < f; ++j) {
        const double v = rr[j], t = xr[j];
        rec += ssvae.gaussian ? 0.5 * (t - v) * (t - v) + half_log_2pi
                              : std::max(v, 0.0) - v * t + std::log1p(std::exp(-std::fabs(v)));
      }
      const T* e = ep + pr * 2 * kk;
      double kl = 0.0;
      for (std::int64_t j = 0; j < kk; ++j) {
        const double mu = e[j], lv = e[kk + j];
        kl += 0.5 * (mu * mu + std::exp(lv) - 1.0 - lv);
      }
      big_l[c] = rec + kl + log_c;
    }
    double row = 0.0, gbar = 0.0;
    if (labelled) {
      row = big_l[lab[r]] + ssvae.alpha * (lse - static_cast<double>(z[lab[r]]));
    } else {
      for (std::int64_t c = 0; c < classes; ++c) {
        const double log_q = static_cast<double>(z[c]) - lse;
        g[c] = big_l[c] + log_q;
        row += q[c] * g[c];
      }
      gbar = row;
    }
    total += row;
    if (!grads) continue;
    T* dl = dlogits.ptr<T>() + r * classes;
    for (std::int64_t c = 0; c < classes; ++c) {
      const double d = labelled ? ssvae.alpha * (q[c] - (c == lab[r] ? 1.0 : 0.0)) : q[c] * (g[c] - gbar);
      dl[c] = static_cast<T>(scale * d);
    }
    for (std::int64_t c = 0; c < classes; ++c) {
      const std::int64_t pr = r * classes + c;
      const double w = scale * (labelled ? (c == lab[r] ? 1.0 : 0.0) : q[c]);
      const T* rr = rp + pr * f;
      T* dr = drecon.ptr<T>() + pr * f;
      for (std::int64_t j = 0; j < f; ++j) {
        const double v = rr[j], t = xr[j];
        const double dv = ssvae.gaussian ? v - t : 1.0 / (1.0 + std::exp(-v)) - t;
        dr[j] = static_cast<T>(w * dv);
      }
      const T* e = ep + pr * 2 * kk;
      T* de = denc.ptr<T>() + pr * 2 * kk;
      for (std::int64_t j = 0; j < kk; ++j) {
        de[j] = static_cast<T>(w * static_cast<double>(e[j]));
        de[kk + j] = static_cast<T>(w * 0.5 * (std::exp(static_cast<double>(e[kk + j])) - 1.0));
      }
    }
  }
  double* a = acc.ptr<double>();
  a[0] += total;
  a[1] += static_cast<double>(n);
}

}  // namespace

#define HPCT_SSVAE_DISPATCH(dtype, call) \
  do {                                   \
    if ((dtype) == DType::f64) {         \
      using T = double;                  \
      call;                              \
    } else {                             \
      using T = float;                   \
      call;                              \
    }                                    \
  } while (0)

void CpuBackend::class_concat_forward_impl(const Tensor& a, std::int64_t classes, bool expand, const Tensor& out) {
  HPCT_SSVAE_DISPATCH(a.dtype, class_concat_forward_t<T>(a, classes, expand, out));
}
void CpuBackend::class_concat_backward_impl(const Tensor& dout, std::int64_t classes, bool expand, const Tensor& da) {
  HPCT_SSVAE_DISPATCH(da.dtype, class_concat_backward_t<T>(dout, classes, expand, da));
}
void CpuBackend::normal_fill_impl(const Tensor& out, std::uint64_t seed, std::uint64_t stream,
                                  const Tensor& row_ids) {
  HPCT_SSVAE_DISPATCH(out.dtype, normal_fill_t<T>(out, seed, stream, row_ids));
}
void CpuBackend::reparam_forward_impl(const Tensor& enc, const Tensor& eps, const Tensor& z) {
  HPCT_SSVAE_DISPATCH(eps.dtype, reparam_forward_t<T>(enc, eps, z));
}
void CpuBackend::reparam_backward_impl(const Tensor& enc, const Tensor& eps, const Tensor& dz, const Tensor& denc) {
  HPCT_SSVAE_DISPATCH(eps.dtype, reparam_backward_t<T>(enc, eps, dz, denc));
}
void CpuBackend::ssvae_objective_impl(const Tensor& x, const Tensor& logits, const Tensor& labels, const Tensor& enc,
                                      const Tensor& recon, const SsvaeArgs& ssvae, const LossArgs& args,
                                      const Tensor& acc, const Tensor& dlogits, const Tensor& denc,
                                      const Tensor& drecon) {
  HPCT_SSVAE_DISPATCH(x.dtype, ssvae_objective_t<T>(x, logits, labels, enc, recon, ssvae, args, acc, dlogits, denc, drecon));
}

#undef HPCT_SSVAE_DISPATCH

}  // namespace hpct::kernels
