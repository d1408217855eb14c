#pragma once
// What limits a run, read from its measured phase times (the end-of-run summary): each phase whose
// share of the step passes its threshold gives one sentence with the option to change; a run where
// none does is compute-bound.
#include <string>
#include <vector>

#include "train/trainer.hpp"

namespace hpct::train {

struct BottleneckThresholds {
  double comm = 0.10;       // exposed communication wait
  double data = 0.10;       // waiting for the loader and copying batches in
  double optimizer = 0.25;  // clip + optimizer step
};

// Sentences, largest share first; never empty for a run that took time.
std::vector<std::string> limiting_factors(const PhaseTimes& t, int ranks,
                                          const BottleneckThresholds& th = BottleneckThresholds());

}  // namespace hpct::train
