#include "optim/schedule.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.hpp"

namespace hpct::optim {

Schedule::Schedule(const ScheduleOptions& opt, double base_lr, std::int64_t total_steps)
    : o_(opt), base_(base_lr), total_(total_steps) {
  HPCT_CHECK(o_.warmup_steps >= 0, "option sched.warmup-steps: must be >= 0, got ", o_.warmup_steps);
  if (o_.name == "cosine") {
    HPCT_CHECK(o_.min_lr >= 0 && o_.min_lr <= base_lr, "option sched.min-lr: must be in [0, optim.lr], got ",
               o_.min_lr);
  } else if (o_.name == "step") {
    HPCT_CHECK(o_.step_size > 0, "option sched.step-size: must be positive for the step schedule, got ",
               o_.step_size);
    HPCT_CHECK(o_.gamma > 0, "option sched.gamma: must be positive, got ", o_.gamma);
  } else {
    HPCT_CHECK(o_.name == "constant", "option sched.name: unknown schedule '", o_.name,
               "' (valid: constant, cosine, step)");
  }
}

double Schedule::lr(std::int64_t step) const {
  if (step < o_.warmup_steps)
    return base_ * static_cast<double>(step + 1) / static_cast<double>(o_.warmup_steps);
  if (o_.name == "cosine") {
    // lr = min + (base - min) (1 + cos(pi t)) / 2, t from 0 after warm-up to 1 at the last step.
    const double span = std::max<std::int64_t>(1, total_ - o_.warmup_steps - 1);
    const double t = std::min(1.0, static_cast<double>(step - o_.warmup_steps) / span);
    return o_.min_lr + (base_ - o_.min_lr) * 0.5 * (1.0 + std::cos(std::numbers::pi * t));
  }
  if (o_.name == "step") return base_ * std::pow(o_.gamma, static_cast<double>(step / o_.step_size));
  return base_;
}

std::string Schedule::describe() const {
  std::string s = o_.name;
  if (o_.name == "cosine") s += cat("(min-lr=", o_.min_lr, ")");
  if (o_.name == "step") s += cat("(step-size=", o_.step_size, " gamma=", o_.gamma, ")");
  if (o_.warmup_steps) s += cat(" warm-up ", o_.warmup_steps, " steps");
  return s;
}

}  // namespace hpct::optim
