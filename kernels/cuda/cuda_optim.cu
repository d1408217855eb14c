// CudaBackend: step control and the loss scaler (one thread each, kernels/common/step.hpp: the CPU's
// code), and the fused optimizer steps, per element in double, reading the multiplier, the skip flag and
// the step count from control (device scalars: no host read).
#include <cstdint>
#include <type_traits>

#include "kernels/common/step.hpp"
#include "kernels/cuda/cuda_backend.hpp"
#include "kernels/cuda/cuda_common.cuh"

namespace hpct::kernels::cuda {
namespace {

__global__ void step_control_kernel(double numerator, double max_norm, bool check_finite, const double* count,
                                    const double* sumsq, const double* loss_scale, double* control) {
  math::step_control(numerator, max_norm, check_finite, *count, sumsq, loss_scale, control);
}

__global__ void update_loss_scale_kernel(double growth, double backoff, std::int64_t interval, const double* control,
                                         double* state) {
  math::update_loss_scale(growth, backoff, interval, control, state);
}

// The control scalars as an optimizer kernel sees them: false when the step is skipped (or its count is
// below 1, which is reported).
__device__ bool step_taken(const double* ctl, DeviceError* err) {
  if (ctl[StepControl::kSkip] != 0.0) return false;
  if (ctl[StepControl::kStep] < 1.0) {
    if (blockIdx.x == 0 && threadIdx.x == 0)
      err->report(DeviceError::step_below_one, 0, static_cast<long long>(ctl[StepControl::kStep]), 1);
    return false;
  }
  return true;
}

// Where an update reads and writes parameters: params themselves (f32, f64), or the master copy S of
// 16-bit params P, which get round(master) in the same pass.
template <class P, class S>
struct ParamAccess {
  P* params;
  S* master;
  static constexpr bool kMaster = !std::is_same_v<P, float> && !std::is_same_v<P, double>;
  __device__ double get(std::int64_t i) const {
    if constexpr (kMaster) return static_cast<double>(master[i]);
    else return static_cast<double>(params[i]);
  }
  __device__ void put(std::int64_t i, double p) const {
    if constexpr (kMaster) {
      master[i] = static_cast<S>(p);
      params[i] = store<P>(master[i]);
    } else {
      params[i] = static_cast<P>(p);
    }
  }
};

// torch.optim.AdamW, g = multiplier grad:
//   p *= 1 - lr wd;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
//   p -= (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)
template <class P, class S>
__global__ void adamw_kernel(ParamAccess<P, S> pa, const P* grads, S* m, S* v, std::int64_t n, AdamWParams hp,
                             const double* ctl, DeviceError* err) {
  if (!step_taken(ctl, err)) return;
  const math::AdamWCoefficients c = math::adamw_coefficients(hp, ctl[StepControl::kStep]);
  const double mult = ctl[StepControl::kMultiplier];
  HPCT_GRID_LOOP(i, n) {
    const double g = mult * static_cast<double>(load(grads[i]));
    const double mi = hp.beta1 * static_cast<double>(m[i]) + (1.0 - hp.beta1) * g;
    const double vi = hp.beta2 * static_cast<double>(v[i]) + (1.0 - hp.beta2) * g * g;
    const double p = pa.get(i) * c.decay;
    pa.put(i, p - c.step_size * mi / (sqrt(vi) * c.inv_bc2_sqrt + hp.eps));
    m[i] = static_cast<S>(mi);
    v[i] = static_cast<S>(vi);
  }
}

// torch.optim.SGD (dampening 0), g = multiplier grad: g += wd p; with momentum
// buf = (t == 1) ? g : momentum buf + g and g = nesterov ? g + momentum buf : buf; p -= lr g.
template <class P, class S>
__global__ void sgd_kernel(ParamAccess<P, S> pa, const P* grads, S* buf, std::int64_t n, SgdParams hp,
                           const double* ctl, DeviceError* err) {
  if (!step_taken(ctl, err)) return;
  const double mult = ctl[StepControl::kMultiplier];
  const bool first = ctl[StepControl::kStep] == 1.0;
  HPCT_GRID_LOOP(i, n) {
    const double p = pa.get(i);
    double g = mult * static_cast<double>(load(grads[i])) + hp.weight_decay * p;
    if (buf) {
      const double b = first ? g : hp.momentum * static_cast<double>(buf[i]) + g;
      buf[i] = static_cast<S>(b);
      g = hp.nesterov ? g + hp.momentum * b : b;
    }
    pa.put(i, p - hp.lr * g);
  }
}

// Calls f(P{}, S{}): P the params' storage type, S the master / state type (master_dtype).
template <class F>
void dispatch_params(const char* k, DType t, F&& f) {
  dispatch_float(k, t, [&](auto z) {
    using P = decltype(z);
    f(P{}, acc_t<P>{});
  });
}

}  // namespace

void CudaBackend::step_control_impl(const StepControlArgs& args, const Tensor& count, const Tensor& sumsq,
                                    const Tensor& loss_scale, const Tensor& control) {
  step_control_kernel<<<1, 1, 0, cur()>>>(args.numerator, args.max_norm, args.check_finite, count.ptr<double>(),
                                          sumsq.empty() ? nullptr : sumsq.ptr<double>(),
                                          loss_scale.empty() ? nullptr : loss_scale.ptr<double>(),
                                          control.ptr<double>());
  HPCT_CUDA_LAUNCH_CHECK();
}

void CudaBackend::update_loss_scale_impl(const LossScaleArgs& args, const Tensor& control, const Tensor& state) {
  update_loss_scale_kernel<<<1, 1, 0, cur()>>>(args.growth, args.backoff, args.interval, control.ptr<double>(),
                                               state.ptr<double>());
  HPCT_CUDA_LAUNCH_CHECK();
}

void CudaBackend::adamw_step_impl(const Tensor& params, const Tensor& master, const Tensor& grads, const Tensor& m,
                                  const Tensor& v, const AdamWParams& hp, const Tensor& control) {
  const std::int64_t n = params.numel();
  if (n == 0) return;
  dispatch_params("adamw_step", params.dtype, [&](auto zp, auto zs) {
    using P = decltype(zp);
    using S = decltype(zs);
    const ParamAccess<P, S> pa{params.ptr<P>(), master.empty() ? nullptr : master.ptr<S>()};
    adamw_kernel<P, S><<<grid_for(n, sm_count()), kThreads, 0, cur()>>>(pa, grads.ptr<P>(), m.ptr<S>(), v.ptr<S>(), n,
                                                                        hp, control.ptr<double>(), device_error());
  });
  HPCT_CUDA_LAUNCH_CHECK();
}

void CudaBackend::sgd_step_impl(const Tensor& params, const Tensor& master, const Tensor& grads,
                                const Tensor& momentum_buf, const SgdParams& hp, const Tensor& control) {
  const std::int64_t n = params.numel();
  if (n == 0) return;
  dispatch_params("sgd_step", params.dtype, [&](auto zp, auto zs) {
    using P = decltype(zp);
    using S = decltype(zs);
    const ParamAccess<P, S> pa{params.ptr<P>(), master.empty() ? nullptr : master.ptr<S>()};
    S* buf = hp.momentum > 0.0 ? momentum_buf.ptr<S>() : nullptr;
    sgd_kernel<P, S><<<grid_for(n, sm_count()), kThreads, 0, cur()>>>(pa, grads.ptr<P>(), buf, n, hp,
                                                                      control.ptr<double>(), device_error());
  });
  HPCT_CUDA_LAUNCH_CHECK();
}

}  // namespace hpct::kernels::cuda
