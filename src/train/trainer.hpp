#pragma once
// The training loop of one model on one process, as named steps over an explicit TrainState:
// assemble the batch, forward, loss, backward, reduce (DDP), unscale/clip (device step control),
// optimizer step, log/evaluate. Every step is enqueued on the backend's stream; the host reads device
// values only when it logs (every log_every steps and at epoch ends: one read each).
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "data/dataset.hpp"
#include "data/row_source.hpp"
#include "parallel/communicator.hpp"
#include "parallel/ddp.hpp"
#include "nn/loss.hpp"
#include "nn/model.hpp"
#include "optim/loss_scaler.hpp"
#include "optim/optimizer.hpp"
#include "optim/zero_optimizer.hpp"
#include "optim/schedule.hpp"
#include "train/checkpoint.hpp"
#include "train/events.hpp"
#include "train/metrics.hpp"
#include "train/progress.hpp"
#include "train/train_state.hpp"

namespace hpct::train {

struct TrainOptions {
  std::int64_t epochs = 20;
  std::int64_t batch_size = 128;
  std::int64_t eval_every = 1;  // epochs between evaluations (the last epoch is always evaluated)
  std::uint64_t seed = 1;       // data order; the model's initialisation has its own seed
  double clip_norm = 0.0;       // global gradient-norm clipping, 0 = off
  optim::OptimizerOptions optim;
  optim::ScheduleOptions sched;
  std::string metrics_csv;      // path of the metrics file, empty = none (written by rank 0)
  // Data parallelism: with a communicator of several ranks each trains on its DistributedSampler
  // share with batch_size rows per micro-step, gradients averaged by Ddp; global batch =
  // batch_size x ranks x accum_steps. Validation is sharded and reduced exactly.
  dist::Communicator* comm = nullptr;
  std::int64_t accum_steps = 1;  // micro-steps per optimizer step (no communication on the first K-1)
  // Each epoch drops the permutation's tail beyond the last full global micro-batch (batch_size x
  // ranks), instead of padding the ranks' shares: N ranks then equal one process with batch_size x N.
  bool drop_last = false;
  dist::DdpOptions ddp;
  // ZeRO stage (--zero): 1 shards the optimizer state over comm's ranks (optim/zero_optimizer.hpp); 0 off.
  int zero = 0;
  std::int64_t check_every = 0;  // steps between weight-sync checks across ranks, 0 = off
  int data_workers = 1;          // loader threads preparing the next batches (0 = on the training thread)
  std::int64_t log_every = 0;    // steps between progress lines (0: at epoch ends only)
  ProgressOptions progress;      // progress within epochs (train/progress.hpp); enabled on the printing rank
  EventLog* events = nullptr;    // RUN/events.jsonl on the printing rank: step and epoch events
  // Mixed precision: the model's store holds the compute dtype; fp16 adds the dynamic loss scaler.
  optim::LossScalerOptions scaler;
  // Host-side agreement (evaluation sums, the epoch loss) goes over this communicator when given, so
  // it never queues behind the data communicator's device collectives; default: comm.
  dist::Communicator* host_comm = nullptr;
  // Fault injection for tests: at optimizer step overflow_step (0-based, -1 = never) rank
  // overflow_rank writes +Inf into the output's gradient before backward, as an fp16 overflow would:
  // its gradients become non-finite before any bucket is reduced.
  std::int64_t overflow_step = -1;
  int overflow_rank = 0;
  std::int64_t overflow_steps = 1;  // steps in a row that inject, from overflow_step on
  // Without fp16: a step with a non-finite gradient is skipped (no parameter changes) and counted;
  // training fails when nan_max_consecutive steps in a row were skipped (1: at the first), seen where
  // the host reads the device scalars (log points, epoch ends, checkpoints), so before a checkpoint
  // of such weights is written.
  std::int64_t nan_max_consecutive = 1;
  // Stop signals (core/stop_signal.hpp): the flag a handler sets. When it is set on any rank, every
  // rank of comm stops after the same optimizer step (agreed by a small allreduce on host_comm, issued
  // after each step and read one step later, so it never waits), writes a checkpoint and returns with
  // TrainSummary::stop_signal set. Null: signals are not watched.
  const std::atomic<int>* stop_signal = nullptr;
  // Periodic checkpoints: after every `every_steps` optimizer steps, every `every_minutes` (rank 0's
  // clock, looked at where the host waits anyway: log points and epoch ends), and after the last
  // epoch. `write` receives, on rank 0 only, the parameters (fp32) and the training part filled in;
  // empty: no checkpoints. stop_after_steps > 0 (tests) ends the run after that step's checkpoint.
  struct Checkpoints {
    std::int64_t every_steps = 0;
    double every_minutes = 0.0;
    std::int64_t stop_after_steps = 0;
    std::function<void(CheckpointData&)> write;
  } checkpoints;
  // A resume: the checkpoint's training part (its parameters already loaded into the model). The run
  // continues at its epoch and micro-batch with its optimizer state, loss scaler and counters.
  const CheckpointData::Resume* resume = nullptr;
};


// Seconds per phase on this rank: data (waiting for the loader, copying the batch in, zeroing the
// gradients), forward (and loss), backward, comm_wait (waiting for the allreduce not hidden behind
// backward, including a last bucket this thread reduces itself), optimizer (clip + step).
struct PhaseTimes {
  double data = 0, forward = 0, backward = 0, comm_wait = 0, optimizer = 0;
  double total() const { return data + forward + backward + comm_wait + optimizer; }
  PhaseTimes& operator+=(const PhaseTimes& o);
};

struct TrainSummary {
  std::int64_t epochs = 0, steps = 0;
  double train_loss = 0.0;     // mean over the last epoch
  double val_loss = 0.0;       // last evaluation (NaN without validation data)
  Metrics val_metrics;         // last evaluation, original units
  double samples_per_s = 0.0;  // training throughput (all ranks) over all epochs after the first
  double tokens_per_s = 0.0;   // sequence data: samples/s x the mean valid length of the training rows
  double seconds = 0.0;
  PhaseTimes phases;           // over the whole run, on this rank
  double host_syncs_per_step = 0.0;  // host waits for device results per optimizer step (last epoch)
  double throttle_waits_per_step = 0.0;  // waits because the host ran ahead of the device (flow control)
  std::int64_t skipped_steps = 0;    // steps skipped for non-finite gradients (fp16)
  double loss_scale = 1.0;           // the final loss scale (fp16)
  bool stopped = false;              // ended before the last epoch: stop_after_steps or a stop signal
  int stop_signal = 0;               // the signal that stopped the run (on some rank), 0: none
};

// The training split: its targets (standardised) in `train`, its features from `train_x` (rows of
// train, in memory or streamed from the file, standardised). Validation: `val` holds this rank's
// shard, rows r, r + p, r + 2p, ... of the validation split (standardised); val_truth the targets of
// the whole split in original units, for metrics; `standardization` maps outputs back to them.
// val_truth == nullptr or empty: no validation.
struct TrainData {
  const data::Dataset* train = nullptr;
  const data::RowSource* train_x = nullptr;
  const data::Dataset* val = nullptr;
  const data::Dataset* val_truth = nullptr;
  const Standardization* standardization = nullptr;
};

// Throws naming the first bad option (epochs, batch-size, eval-every, accum-steps, clip, schedule), so
// a command can refuse before it touches its run directory.
void check_train_options(const TrainOptions& opt);

TrainSummary fit(kernels::Backend& be, nn::Model& model, nn::LossKind loss, const TrainData& data,
                 const TrainOptions& opt);

}  // namespace hpct::train
