#pragma once
// The training loop of one model on one process: shuffled mini-batches, forward, loss, backward,
// clipping, optimizer and schedule, periodic evaluation, a progress line and a metrics.csv row per
// epoch.
#include <cstdint>
#include <string>

#include "data/dataset.hpp"
#include "nn/loss.hpp"
#include "nn/model.hpp"
#include "optim/optimizer.hpp"
#include "optim/schedule.hpp"
#include "train/metrics.hpp"

namespace hpct::train {

struct TrainOptions {
  std::int64_t epochs = 20;
  std::int64_t batch_size = 128;
  std::int64_t eval_every = 1;  // epochs between evaluations (the last epoch is always evaluated)
  std::uint64_t seed = 1;       // data order; the model's initialisation has its own seed
  double clip_norm = 0.0;       // global gradient-norm clipping, 0 = off
  optim::OptimizerOptions optim;
  optim::ScheduleOptions sched;
  std::string metrics_csv;      // path of the metrics file, empty = none
};

struct TrainSummary {
  std::int64_t epochs = 0, steps = 0;
  double train_loss = 0.0;     // mean over the last epoch
  double val_loss = 0.0;       // last evaluation (NaN without validation data)
  Metrics val_metrics;         // last evaluation, original units
  double samples_per_s = 0.0;  // training throughput over all epochs after the first
  double seconds = 0.0;
};

// The data sets are standardised already; val_truth holds the validation targets in original units
// (for metrics) and `standardization` maps outputs back to them. val may be null.
struct TrainData {
  const data::Dataset* train = nullptr;
  const data::Dataset* val = nullptr;
  const data::Dataset* val_truth = nullptr;
  const Standardization* standardization = nullptr;
};

TrainSummary fit(kernels::Backend& be, nn::Model& model, nn::LossKind loss, const TrainData& data,
                 const TrainOptions& opt);

}  // namespace hpct::train
