#pragma once
// Progress inside an epoch, on the process that prints: on a terminal one line that updates itself
// (at most once a second); otherwise (SLURM logs, pipes) a plain line every log_every steps or every
// interval_s seconds, never a carriage return. The trainer asks due() after each optimizer step (a
// clock read, no device read) and reads the device scalars only when it is not `none`.
#include <cstdint>
#include <string>

#include "core/timer.hpp"

namespace hpct::train {

struct ProgressOptions {
  bool enabled = false;        // this process prints progress (rank 0 of its model)
  bool terminal = false;       // stdout is a terminal
  std::int64_t log_every = 0;  // steps between plain lines (0 = off)
  double interval_s = 0.0;     // seconds between plain lines (0 = off)
};

// What the line says; NaN or 0 fields are left out (tokens_per_s without sequences).
struct ProgressPoint {
  std::int64_t epoch = 0, epochs = 0, step_in_epoch = 0, steps_per_epoch = 0, step = 0;
  double loss = 0, lr = 0, samples_per_s = 0, tokens_per_s = 0, epoch_eta_s = 0, run_eta_s = 0;
};

class Progress {
 public:
  enum class Due { none, refresh, log };  // refresh: the terminal line only; log: a line and an event
  explicit Progress(const ProgressOptions& o) : opt_(o) {}
  Due due(std::int64_t step);
  void show(const ProgressPoint& p, Due d) const;
  static std::string format(const ProgressPoint& p);

 private:
  ProgressOptions opt_;
  Stopwatch since_line_, since_refresh_;
};

// "1h02m", "3m05s", "42s".
std::string format_duration(double seconds);

}  // namespace hpct::train
