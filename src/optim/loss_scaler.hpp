#pragma once
// The dynamic loss scaler of fp16 training (PyTorch's GradScaler), kept on the device: the loss
// gradient is multiplied by the scale, the optimizer step divides it out (kernels::StepControl), a
// step whose gradients are not finite is skipped on every rank (the allreduce spreads an Inf or NaN to
// all of them) and halves the scale; `interval` finite steps in a row double it. Without fp16 the same
// state only records skipped steps (scale 1), which the trainer reports.
#include <cstdint>

#include "kernels/kernels.hpp"

namespace hpct::optim {

struct LossScalerOptions {
  bool dynamic = false;          // on for fp16
  double init_scale = 65536.0;   // 2^16, as torch.cuda.amp.GradScaler
  double growth = 2.0, backoff = 0.5;
  std::int64_t interval = 2000;
};

// Throws naming the first bad scaler option.
void check_loss_scaler_options(const LossScalerOptions& o);

class LossScaler {
 public:
  // state: f64 [kernels::ScalerState::kSize] on the device, owned by the caller.
  LossScaler(const LossScalerOptions& o, const Tensor& state) : o_(o), state_(state) {}
  // Scale o.init_scale (1 when not dynamic), no steps counted.
  void reset(kernels::Backend& be) const;
  // The scale as a device scalar (f64 [1]) for the loss gradient and the step's multiplier; empty when
  // not dynamic (the scale is 1).
  Tensor scale() const { return o_.dynamic ? state_.flat_range(kernels::ScalerState::kScale, 1) : Tensor{}; }
  // After step_control decided the step (control): back off or grow the scale, count a skip.
  void update(kernels::Backend& be, const Tensor& control) const;
  const LossScalerOptions& options() const { return o_; }

 private:
  LossScalerOptions o_;
  Tensor state_;
};

}  // namespace hpct::optim
