#pragma once
// The scalar logic of an optimizer step, shared by the CPU and CUDA backends (HPCT_HD): step_control's
// and update_loss_scale's device scalars (one thread computes them on a GPU), and AdamW's per-step
// coefficients. Semantics in kernels.hpp (StepControl, ScalerState).
#include <math.h>  // sqrt, pow, isfinite: the C names, which nvcc also provides in device code

#include <cstdint>

#include "core/host_device.hpp"
#include "kernels/kernels.hpp"

namespace hpct::kernels::math {

// splitmix64's finaliser: a bijective 64-bit mix (Backend::checksum).
HPCT_HD std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// control[StepControl::k*] from the step's scalars: count = count[0]; sumsq and loss_scale may be null
// (no norm; a loss scale of 1).
HPCT_HD void step_control(double numerator, double max_norm, bool check_finite, double count, const double* sumsq,
                          const double* loss_scale, double* control) {
  const double scale = loss_scale ? *loss_scale : 1.0;
  double multiplier = count > 0.0 ? numerator / count / scale : 0.0;
  const bool skip = check_finite && sumsq && !isfinite(*sumsq);
  const double norm = sumsq ? sqrt(*sumsq) * multiplier : 0.0;
  if (max_norm > 0.0) {
    // torch.nn.utils.clip_grad_norm_: a factor below 1 only (a NaN norm compares false: unclipped).
    const double clip = max_norm / (norm + 1e-6);
    if (clip < 1.0) multiplier *= clip;
  }
  control[StepControl::kMultiplier] = multiplier;
  control[StepControl::kSkip] = skip ? 1.0 : 0.0;
  control[StepControl::kNorm] = norm;
  if (!skip) control[StepControl::kStep] += 1.0;
}

// The dynamic loss scaler after a step (ScalerState): a skipped step backs the scale off, restarts the
// good-step count and is recorded (count, last and first step counts); `interval` good steps in a row
// grow the scale.
HPCT_HD void update_loss_scale(double growth, double backoff, std::int64_t interval, const double* control,
                               double* state) {
  if (control[StepControl::kSkip] != 0.0) {
    state[ScalerState::kScale] *= backoff;
    state[ScalerState::kGood] = 0.0;
    state[ScalerState::kSkipped] += 1.0;
    state[ScalerState::kLastSkip] = control[StepControl::kStep];
    if (state[ScalerState::kFirstSkip] < 0.0) state[ScalerState::kFirstSkip] = control[StepControl::kStep];
    state[ScalerState::kStreak] += 1.0;
    if (state[ScalerState::kStreak] > state[ScalerState::kMaxStreak])
      state[ScalerState::kMaxStreak] = state[ScalerState::kStreak];
    return;
  }
  state[ScalerState::kStreak] = 0.0;
  state[ScalerState::kGood] += 1.0;
  if (state[ScalerState::kGood] >= static_cast<double>(interval)) {
    state[ScalerState::kScale] *= growth;
    state[ScalerState::kGood] = 0.0;
  }
}

// AdamW's factors at step t (1-based): p *= decay; p -= step_size * m / (sqrt(v) * inv_bc2_sqrt + eps).
struct AdamWCoefficients {
  double decay, step_size, inv_bc2_sqrt;
};
HPCT_HD AdamWCoefficients adamw_coefficients(const AdamWParams& hp, double t) {
  return {1.0 - hp.lr * hp.weight_decay, hp.lr / (1.0 - pow(hp.beta1, t)), 1.0 / sqrt(1.0 - pow(hp.beta2, t))};
}

}  // namespace hpct::kernels::math
