// CpuBackend: optimizer steps and the flat-range operations around them (axpy, scale, sum_squares,
// first_nonfinite). Tensors are taken as flat ranges: only their element counts must agree.
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/cpu/cpu_backend.hpp"
#include "kernels/cpu/cpu_common.hpp"

namespace hpct::kernels {
namespace {

// b is a float tensor of a's dtype and element count.
void check_flat_like(const char* k, const char* what_a, const Tensor& a, const char* what_b, const Tensor& b) {
  cpu::check_float(k, what_b, b);
  cpu::check_same_dtype(k, what_a, a, what_b, b);
  cpu::check_same_numel(k, what_a, a, what_b, b);
}

}  // namespace

// y = alpha * x + y (in the tensors' precision).
void CpuBackend::axpy(double alpha, const Tensor& x, const Tensor& y) {
  constexpr const char* k = "axpy";
  cpu::check_float(k, "x", x);
  cpu::check_like(k, "x", x, "y", y);
  cpu::dispatch_float(k, x.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* xp = x.as<T>();
    T* yp = y.as<T>();
    const T a = static_cast<T>(alpha);
    cpu::parallel_blocks(threads_, x.numel(), cpu::kGrainCheap, [=](std::int64_t b, std::int64_t e) {
      for (std::int64_t i = b; i < e; ++i) yp[i] += a * xp[i];
    });
  });
}

// x *= alpha
void CpuBackend::scale(const Tensor& x, double alpha) {
  constexpr const char* k = "scale";
  cpu::check_float(k, "x", x);
  cpu::dispatch_float(k, x.dtype, [&](auto zero) {
    using T = decltype(zero);
    T* xp = x.as<T>();
    const T a = static_cast<T>(alpha);
    cpu::parallel_blocks(threads_, x.numel(), cpu::kGrainCheap, [=](std::int64_t b, std::int64_t e) {
      for (std::int64_t i = b; i < e; ++i) xp[i] *= a;
    });
  });
}

// sum_i x_i^2 in double: a partial per fixed chunk (vectorised in a fixed order), chunks added in order.
double CpuBackend::sum_squares(const Tensor& x) {
  constexpr const char* k = "sum_squares";
  cpu::check_float(k, "x", x);
  return cpu::dispatch_float(k, x.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* xp = x.as<T>();
    return cpu::chunked_sum(threads_, x.numel(), cpu::kReduceChunk, [=](std::int64_t b, std::int64_t e) {
      double s = 0.0;
#pragma omp simd reduction(+ : s)
      for (std::int64_t i = b; i < e; ++i) {
        const double v = static_cast<double>(xp[i]);
        s += v * v;
      }
      return s;
    });
  });
}

// 0 when every element is finite, else 1 + the index of the first NaN or Inf. Each chunk first sums
// x * 0 (NaN exactly when the chunk holds a NaN or Inf; vectorises), and only such a chunk is scanned.
std::int64_t CpuBackend::first_nonfinite(const Tensor& x) {
  constexpr const char* k = "first_nonfinite";
  cpu::check_float(k, "x", x);
  return cpu::dispatch_float(k, x.dtype, [&](auto zero) -> std::int64_t {
    using T = decltype(zero);
    const T* xp = x.as<T>();
    const std::int64_t n = x.numel();
    const auto first_in = [=](std::int64_t b, std::int64_t e) -> std::int64_t {
      T probe = T(0);
#pragma omp simd reduction(+ : probe)
      for (std::int64_t i = b; i < e; ++i) probe += xp[i] * T(0);
      if (probe == T(0)) return 0;
      for (std::int64_t i = b; i < e; ++i)
        if (!std::isfinite(xp[i])) return i + 1;
      return 0;
    };
    const std::int64_t chunks = (n + cpu::kReduceChunk - 1) / cpu::kReduceChunk;
    if (chunks <= 1) return n > 0 ? first_in(0, n) : 0;
    std::vector<std::int64_t> found(static_cast<std::size_t>(chunks), 0);
    cpu::parallel_blocks(threads_, chunks, 1, [&](std::int64_t c0, std::int64_t c1) {
      for (std::int64_t c = c0; c < c1; ++c)
        found[c] = first_in(c * cpu::kReduceChunk, std::min(n, (c + 1) * cpu::kReduceChunk));
    });
    for (const std::int64_t f : found)
      if (f) return f;
    return 0;
  });
}

// torch.optim.AdamW (decoupled weight decay), per element in double:
//   p *= 1 - lr wd;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
//   p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
void CpuBackend::adamw_step(const Tensor& params, const Tensor& grads, const Tensor& m, const Tensor& v,
                            const AdamWParams& hp) {
  constexpr const char* k = "adamw_step";
  cpu::check_float(k, "params", params);
  check_flat_like(k, "params", params, "grads", grads);
  check_flat_like(k, "params", params, "m", m);
  check_flat_like(k, "params", params, "v", v);
  HPCT_CHECK(hp.step >= 1, k, ": step ", hp.step, " must be >= 1 (it is 1-based)");
  HPCT_CHECK(hp.beta1 >= 0.0 && hp.beta1 < 1.0 && hp.beta2 >= 0.0 && hp.beta2 < 1.0, k, ": betas (", hp.beta1,
             ", ", hp.beta2, ") must lie in [0, 1)");
  const double decay = 1.0 - hp.lr * hp.weight_decay;
  const double b1 = hp.beta1, b2 = hp.beta2, eps = hp.eps;
  const double t = static_cast<double>(hp.step);
  const double step_size = hp.lr / (1.0 - std::pow(b1, t));
  const double inv_bc2_sqrt = 1.0 / std::sqrt(1.0 - std::pow(b2, t));
  cpu::dispatch_float(k, params.dtype, [&](auto zero) {
    using T = decltype(zero);
    T* pp = params.as<T>();
    const T* gp = grads.as<T>();
    T* mp = m.as<T>();
    T* vp = v.as<T>();
    cpu::parallel_blocks(threads_, params.numel(), cpu::kGrainMath, [=](std::int64_t b, std::int64_t e) {
      for (std::int64_t i = b; i < e; ++i) {
        const double g = static_cast<double>(gp[i]);
        const double mi = b1 * static_cast<double>(mp[i]) + (1.0 - b1) * g;
        const double vi = b2 * static_cast<double>(vp[i]) + (1.0 - b2) * g * g;
        const double p = static_cast<double>(pp[i]) * decay;
        pp[i] = static_cast<T>(p - step_size * mi / (std::sqrt(vi) * inv_bc2_sqrt + eps));
        mp[i] = static_cast<T>(mi);
        vp[i] = static_cast<T>(vi);
      }
    });
  });
}

// torch.optim.SGD with dampening 0, per element in double:
//   g += wd p;  if momentum > 0: buf = first ? g : momentum buf + g;  g = nesterov ? g + momentum buf : buf;
//   p -= lr g.   momentum_buf may be empty when momentum = 0.
void CpuBackend::sgd_step(const Tensor& params, const Tensor& grads, const Tensor& momentum_buf,
                          const SgdParams& hp) {
  constexpr const char* k = "sgd_step";
  cpu::check_float(k, "params", params);
  check_flat_like(k, "params", params, "grads", grads);
  HPCT_CHECK(hp.momentum >= 0.0, k, ": momentum ", hp.momentum, " is negative");
  HPCT_CHECK(!hp.nesterov || hp.momentum > 0.0, k, ": nesterov needs momentum > 0");
  const bool use_buf = hp.momentum > 0.0;
  if (use_buf) {
    HPCT_CHECK(!momentum_buf.empty() || params.numel() == 0, k, ": momentum ", hp.momentum,
               " needs a momentum buffer, got an empty tensor");
    check_flat_like(k, "params", params, "momentum_buf", momentum_buf);
  }
  const double lr = hp.lr, mu = hp.momentum, wd = hp.weight_decay;
  const bool first = hp.first_step, nesterov = hp.nesterov;
  cpu::dispatch_float(k, params.dtype, [&](auto zero) {
    using T = decltype(zero);
    T* pp = params.as<T>();
    const T* gp = grads.as<T>();
    T* bp = use_buf ? momentum_buf.as<T>() : nullptr;
    cpu::parallel_blocks(threads_, params.numel(), cpu::kGrainCheap / 4, [=](std::int64_t b, std::int64_t e) {
      for (std::int64_t i = b; i < e; ++i) {
        const double p = static_cast<double>(pp[i]);
        double g = static_cast<double>(gp[i]) + wd * p;
        if (bp) {
          const double buf = first ? g : mu * static_cast<double>(bp[i]) + g;
          bp[i] = static_cast<T>(buf);
          g = nesterov ? g + mu * buf : buf;
        }
        pp[i] = static_cast<T>(p - lr * g);
      }
    });
  });
}

}  // namespace hpct::kernels
