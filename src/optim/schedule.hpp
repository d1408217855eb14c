#pragma once
// Learning-rate schedules as a pure function of the optimizer step, so resuming needs only the step.
#include <cstdint>
#include <string>

namespace hpct::optim {

struct ScheduleOptions {
  std::string name = "constant";  // constant | cosine | step
  std::int64_t warmup_steps = 0;  // linear warm-up from lr / warmup_steps to lr (any schedule)
  double min_lr = 0.0;            // cosine: the final learning rate
  std::int64_t step_size = 0;     // step: multiply by gamma every step_size steps
  double gamma = 0.1;             // step
};

class Schedule {
 public:
  // base_lr: the optimizer's lr; total_steps: the steps of the whole run (cosine decays to its end).
  Schedule(const ScheduleOptions& opt, double base_lr, std::int64_t total_steps);
  // Learning rate for the optimizer step `step` (0-based).
  double lr(std::int64_t step) const;
  std::string describe() const;

 private:
  ScheduleOptions o_;
  double base_;
  std::int64_t total_;
};

}  // namespace hpct::optim
