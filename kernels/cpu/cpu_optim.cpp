// CpuBackend: the flat-range operations around an optimizer step (axpy, scale, sum_squares,
// scale_by), the step's device scalars (step_control, update_loss_scale; kernels/common/step.hpp) and
// the optimizer steps. Tensors are taken as flat ranges: only their element counts agree.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>
#include <type_traits>

#include "kernels/common/step.hpp"
#include "kernels/cpu/cpu_backend.hpp"
#include "kernels/cpu/cpu_common.hpp"
#include "kernels/cpu/cpu_widen.hpp"

namespace hpct::kernels {

// y = alpha * x + y (in the tensors' precision).
void CpuBackend::axpy_impl(double alpha, const Tensor& x, const Tensor& y) {
  if (widened([&](const Tensor& x32, const Tensor& y32) { CpuBackend::axpy_impl(alpha, x32, y32); }, cpu::in(x),
              cpu::inout(y)))
    return;
  cpu::dispatch_float("axpy", x.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* xp = x.ptr<T>();
    T* yp = y.ptr<T>();
    const T a = static_cast<T>(alpha);
    cpu::parallel_blocks(threads_, x.numel(), cpu::kGrainCheap, [=](std::int64_t b, std::int64_t e) {
      for (std::int64_t i = b; i < e; ++i) yp[i] += a * xp[i];
    });
  });
}

// x *= alpha
void CpuBackend::scale_impl(const Tensor& x, double alpha) {
  if (widened([&](const Tensor& x32) { CpuBackend::scale_impl(x32, alpha); }, cpu::inout(x))) return;
  cpu::dispatch_float("scale", x.dtype, [&](auto zero) {
    using T = decltype(zero);
    T* xp = x.ptr<T>();
    const T a = static_cast<T>(alpha);
    cpu::parallel_blocks(threads_, x.numel(), cpu::kGrainCheap, [=](std::int64_t b, std::int64_t e) {
      for (std::int64_t i = b; i < e; ++i) xp[i] *= a;
    });
  });
}

// x *= factor[0]: scale with the factor read from device memory.
void CpuBackend::scale_by_impl(const Tensor& x, const Tensor& factor) {
  CpuBackend::scale_impl(x, *factor.ptr<double>());
}

// out[0] = sum_i x_i^2 in double: a partial per fixed chunk (vectorised in a fixed order), chunks added
// in order.
void CpuBackend::sum_squares_impl(const Tensor& x, const Tensor& out) {
  if (widened([&](const Tensor& x32) { CpuBackend::sum_squares_impl(x32, out); }, cpu::in(x))) return;
  *out.ptr<double>() = cpu::dispatch_float("sum_squares", x.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* xp = x.ptr<T>();
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

// Chunks of words summed in parallel, their partials added here (the sum modulo 2^64 is order-free).
void CpuBackend::checksum_impl(const Tensor& x, const Tensor& out) {
  const auto* bytes = static_cast<const unsigned char*>(x.data);
  const auto n = static_cast<std::int64_t>(x.bytes());
  const std::int64_t words = (n + 7) / 8, chunks = (words + cpu::kReduceChunk - 1) / cpu::kReduceChunk;
  std::vector<std::uint64_t> part(static_cast<std::size_t>(chunks), 0);
  cpu::parallel_blocks(threads_, chunks, 1, [&](std::int64_t c0, std::int64_t c1) {
    for (std::int64_t c = c0; c < c1; ++c) {
      std::uint64_t s = 0;
      for (std::int64_t i = c * cpu::kReduceChunk; i < std::min(words, (c + 1) * cpu::kReduceChunk); ++i) {
        std::uint64_t w = 0;
        std::memcpy(&w, bytes + 8 * i, static_cast<std::size_t>(std::min<std::int64_t>(8, n - 8 * i)));
        s += math::mix64(w ^ math::mix64(static_cast<std::uint64_t>(i)));
      }
      part[static_cast<std::size_t>(c)] = s;
    }
  });
  std::uint64_t sum = 0;
  for (const std::uint64_t p : part) sum += p;
  *out.ptr<std::int64_t>() = static_cast<std::int64_t>(sum);
}

void CpuBackend::step_control_impl(const StepControlArgs& args, const Tensor& count, const Tensor& sumsq,
                                   const Tensor& loss_scale, const Tensor& control) {
  math::step_control(args.numerator, args.max_norm, args.check_finite, *count.ptr<double>(),
                     sumsq.empty() ? nullptr : sumsq.ptr<double>(),
                     loss_scale.empty() ? nullptr : loss_scale.ptr<double>(), control.ptr<double>());
}

void CpuBackend::update_loss_scale_impl(const LossScaleArgs& args, const Tensor& control, const Tensor& state) {
  math::update_loss_scale(args.growth, args.backoff, args.interval, control.ptr<double>(), state.ptr<double>());
}

namespace {

// The control scalars an optimizer step reads; nullptr when the step is skipped. The step count must
// be >= 1 (step_control has counted this step).
const double* step_scalars(const char* k, const Tensor& control) {
  const double* ctl = control.ptr<double>();
  if (ctl[StepControl::kSkip] != 0.0) return nullptr;
  HPCT_CHECK(ctl[StepControl::kStep] >= 1.0, k, ": step ", ctl[StepControl::kStep],
             " must be >= 1 (it is 1-based: step_control counts the step)");
  return ctl;
}

// Where an update reads and writes the parameters: params themselves (f32, f64), or the master copy
// (S) for 16-bit params P, which then get round(master) in the same pass.
template <class P, class S>
struct ParamAccess {
  P* params;
  S* master;
  static constexpr bool kMaster = cpu::is_16bit<P>;
  double load(std::int64_t i) const {
    if constexpr (kMaster) return static_cast<double>(master[i]);
    else return static_cast<double>(params[i]);
  }
  void store(std::int64_t i, double p) const {
    if constexpr (kMaster) {
      master[i] = static_cast<S>(p);
      params[i] = cpu::narrow<P>(master[i]);
    } else {
      params[i] = static_cast<P>(p);
    }
  }
};

// Calls f(P{}, S{}): P the params' storage type, S the master / state type (master_dtype).
template <class F>
void dispatch_params(const char* k, DType dtype, F&& f) {
  cpu::dispatch_storage(k, dtype, [&](auto zero) {
    using P = decltype(zero);
    using S = std::conditional_t<std::is_same_v<P, double>, double, float>;
    f(P{}, S{});
  });
}

}  // namespace

// torch.optim.AdamW (decoupled weight decay), per element in double, g = multiplier * grad:
//   p *= 1 - lr wd;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
//   p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
void CpuBackend::adamw_step_impl(const Tensor& params, const Tensor& master, const Tensor& grads, const Tensor& m,
                                 const Tensor& v, const AdamWParams& hp, const Tensor& control) {
  constexpr const char* k = "adamw_step";
  const double* ctl = step_scalars(k, control);
  if (!ctl) return;
  const math::AdamWCoefficients c = math::adamw_coefficients(hp, ctl[StepControl::kStep]);
  const double mult = ctl[StepControl::kMultiplier], b1 = hp.beta1, b2 = hp.beta2, eps = hp.eps;
  dispatch_params(k, params.dtype, [&](auto p_zero, auto s_zero) {
    using P = decltype(p_zero);
    using S = decltype(s_zero);
    const ParamAccess<P, S> pa{params.ptr<P>(), master.empty() ? nullptr : master.ptr<S>()};
    const P* gp = grads.ptr<P>();
    S* mp = m.ptr<S>();
    S* vp = v.ptr<S>();
    cpu::parallel_blocks(threads_, params.numel(), cpu::kGrainMath, [=](std::int64_t b, std::int64_t e) {
      for (std::int64_t i = b; i < e; ++i) {
        const double g = mult * static_cast<double>(cpu::widen(gp[i]));
        const double mi = b1 * static_cast<double>(mp[i]) + (1.0 - b1) * g;
        const double vi = b2 * static_cast<double>(vp[i]) + (1.0 - b2) * g * g;
        const double p = pa.load(i) * c.decay;
        pa.store(i, p - c.step_size * mi / (std::sqrt(vi) * c.inv_bc2_sqrt + eps));
        mp[i] = static_cast<S>(mi);
        vp[i] = static_cast<S>(vi);
      }
    });
  });
}

// torch.optim.SGD with dampening 0, per element in double, g = multiplier * grad:
//   g += wd p;  if momentum > 0: buf = (t == 1) ? g : momentum buf + g;  g = nesterov ? g + momentum buf : buf;
//   p -= lr g.   momentum_buf may be empty when momentum = 0.
void CpuBackend::sgd_step_impl(const Tensor& params, const Tensor& master, const Tensor& grads,
                               const Tensor& momentum_buf, const SgdParams& hp, const Tensor& control) {
  constexpr const char* k = "sgd_step";
  const double* ctl = step_scalars(k, control);
  if (!ctl) return;
  const double lr = hp.lr, mu = hp.momentum, wd = hp.weight_decay, mult = ctl[StepControl::kMultiplier];
  const bool first = ctl[StepControl::kStep] == 1.0, nesterov = hp.nesterov, use_buf = hp.momentum > 0.0;
  dispatch_params(k, params.dtype, [&](auto p_zero, auto s_zero) {
    using P = decltype(p_zero);
    using S = decltype(s_zero);
    const ParamAccess<P, S> pa{params.ptr<P>(), master.empty() ? nullptr : master.ptr<S>()};
    const P* gp = grads.ptr<P>();
    S* bp = use_buf ? momentum_buf.ptr<S>() : nullptr;
    cpu::parallel_blocks(threads_, params.numel(), cpu::kGrainCheap / 4, [=](std::int64_t b, std::int64_t e) {
      for (std::int64_t i = b; i < e; ++i) {
        const double p = pa.load(i);
        double g = mult * static_cast<double>(cpu::widen(gp[i])) + wd * p;
        if (bp) {
          const double buf = first ? g : mu * static_cast<double>(bp[i]) + g;
          bp[i] = static_cast<S>(buf);
          g = nesterov ? g + mu * buf : buf;
        }
        pa.store(i, p - lr * g);
      }
    });
  });
}

}  // namespace hpct::kernels
