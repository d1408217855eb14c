#pragma once
// Where a run is: what a periodic checkpoint saves and a resume restores (train/checkpoint.hpp).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace hpct::train {

using MetricsRow = std::vector<std::pair<std::string, double>>;

struct TrainState {
  std::int64_t epoch = 1;          // the epoch in progress (1-based)
  std::int64_t micro = 0;          // micro-batches done in this epoch: the position in the epoch
  std::int64_t step = 0;           // optimizer steps taken (skipped ones too: the schedule's clock)
  std::uint64_t micro_steps = 0;   // forward passes so far: the dropout masks' counter
  std::uint64_t data_seed = 1;     // the sampler's order is a function of (data_seed, epoch)
  std::vector<double> scaler;      // kernels::ScalerState, as last read from the device
  // The epoch's training loss so far {sum, count}, over all ranks of the group (a checkpoint within
  // an epoch keeps it, so the epoch's train_loss counts the rows trained before the resume).
  std::vector<double> epoch_loss = {0.0, 0.0};
  std::vector<MetricsRow> history;  // metrics rows so far
};

}  // namespace hpct::train
