#include "optim/loss_scaler.hpp"

#include <cmath>
#include <vector>

namespace hpct::optim {

void check_loss_scaler_options(const LossScalerOptions& o) {
  HPCT_CHECK(o.init_scale > 0 && std::isfinite(o.init_scale), "option precision.init-scale: must be positive, got ",
             o.init_scale);
  HPCT_CHECK(o.growth >= 1, "option precision.growth: must be >= 1, got ", o.growth);
  HPCT_CHECK(o.backoff > 0 && o.backoff <= 1, "option precision.backoff: must be in (0, 1], got ", o.backoff);
  HPCT_CHECK(o.interval > 0, "option precision.growth-interval: must be positive, got ", o.interval);
}

void LossScaler::reset(kernels::Backend& be) const {
  using S = kernels::ScalerState;
  std::vector<double> v(S::kSize, 0.0);
  v[S::kScale] = o_.dynamic ? o_.init_scale : 1.0;
  v[S::kLastSkip] = v[S::kFirstSkip] = -1.0;
  be.copy(state_, Tensor(v.data(), Shape{S::kSize}, DType::f64));
  be.synchronize();  // v is freed on return (set-up, not a step)
}

void LossScaler::update(kernels::Backend& be, const Tensor& control) const {
  kernels::LossScaleArgs a;
  a.growth = o_.dynamic ? o_.growth : 1.0;
  a.backoff = o_.dynamic ? o_.backoff : 1.0;
  a.interval = o_.interval;
  be.update_loss_scale(a, control, state_);
}

}  // namespace hpct::optim
