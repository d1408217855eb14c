#include "train/trainer.hpp"

#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <limits>
#include <sstream>

#include "core/atomic_file.hpp"
#include "core/log.hpp"
#include "data/distributed_sampler.hpp"
#include "data/loader.hpp"
#include "core/timer.hpp"
#include "core/trace.hpp"
#include "core/workspace.hpp"
#include "train/batch.hpp"
#include "train/evaluate.hpp"
#include "train/model_io.hpp"
#include "train/predictions.hpp"

namespace hpct::train {

namespace {

// One row of metrics.csv per epoch, written by rank 0 straight into the file and flushed per row,
// so that a running or killed job has its history. The file starts with the rows of the checkpoint a
// run resumes from (rows written after it are dropped), written atomically; the header comes with
// the first row. Without such rows the file is created only with the first row (an older one is
// removed): a job that ends before any row, however it ends (another rank's MPI_Abort kills this one
// with no chance to clean up), leaves no empty metrics.csv behind.
class MetricsCsv {
 public:
  MetricsCsv(const std::string& path, const std::vector<MetricsRow>& history) : path_(path) {
    if (path.empty()) return;
    if (history.empty()) {
      std::error_code ec;
      std::filesystem::remove(path, ec);
      HPCT_CHECK(!ec, path, ": cannot remove the previous metrics file: ", ec.message());
      return;
    }
    std::ostringstream text;
    for (const MetricsRow& row : history) format(text, row);
    write_text_atomic(path, text.str());
    open();
  }
  void row(const MetricsRow& cols) {
    if (path_.empty()) return;
    if (!out_.is_open()) open();
    format(out_, cols);
    out_ << std::flush;
    HPCT_CHECK(out_, path_, ": writing the metrics file failed");
  }

 private:
  void open() {
    out_.open(path_, std::ios::app);
    HPCT_CHECK(out_, path_, ": cannot write the metrics file");
  }
  // NaN values are written as empty cells (e.g. validation columns of epochs without evaluation).
  void format(std::ostream& out, const MetricsRow& cols) {
    if (!header_written_) {
      for (std::size_t i = 0; i < cols.size(); ++i) out << (i ? "," : "") << cols[i].first;
      out << '\n';
      header_written_ = true;
    }
    out << std::setprecision(9);
    for (std::size_t i = 0; i < cols.size(); ++i) {
      out << (i ? "," : "");
      if (!std::isnan(cols[i].second)) out << cols[i].second;
    }
    out << '\n';
  }

  std::string path_;
  std::ofstream out_;
  bool header_written_ = false;
};

std::string format_metrics(const Metrics& m) {
  std::ostringstream os;
  os << std::setprecision(5);
  for (const auto& [name, value] : m) os << " " << name << "=" << value;
  return os.str();
}

// Evaluates this rank's validation shard (rows r, r + p, ... of the split) and gathers every rank's
// outputs back into the split's row order, and the loss as exact sums and counts, so each rank ends
// with the whole validation result.
Evaluation evaluate_sharded(kernels::Backend& be, nn::Model& model, nn::LossKind loss, const data::Dataset& shard,
                            std::int64_t total_rows, dist::Communicator* comm, std::int64_t batch_size,
                            Workspace& ws) {
  if (!comm || comm->size() == 1) return evaluate(be, model, loss, shard, batch_size, &ws);
  const int world = comm->size();
  const std::int64_t positions = output_positions(model, shard);
  const std::int64_t width = model.spec().out_features * positions, max_rows = (total_rows + world - 1) / world;
  Evaluation local = shard.n ? evaluate(be, model, loss, shard, batch_size, &ws) : Evaluation{};
  double sums[2] = {local.loss.sum, static_cast<double>(local.loss.count)};
  comm->allreduce(Tensor(sums, Shape{2}, DType::f64), dist::ReduceOp::sum)->wait_host();
  std::vector<float> send(static_cast<std::size_t>(max_rows * width), 0.0f);
  std::copy(local.raw.begin(), local.raw.end(), send.begin());
  std::vector<float> all(send.size() * static_cast<std::size_t>(world));
  comm->allgather(Tensor(send.data(), Shape{static_cast<std::int64_t>(send.size())}, DType::f32),
                  Tensor(all.data(), Shape{static_cast<std::int64_t>(all.size())}, DType::f32))
      ->wait_host();
  Evaluation ev;
  ev.positions = positions;
  ev.loss = {sums[0], static_cast<std::int64_t>(sums[1])};
  ev.raw.resize(static_cast<std::size_t>(total_rows * width));
  for (std::int64_t i = 0; i < total_rows; ++i) {  // row i is row i / p of rank i % p
    const float* src = all.data() + ((i % world) * max_rows + i / world) * width;
    std::copy(src, src + width, ev.raw.begin() + i * width);
  }
  return ev;
}

}  // namespace

PhaseTimes& PhaseTimes::operator+=(const PhaseTimes& o) {
  data += o.data;
  forward += o.forward;
  backward += o.backward;
  comm_wait += o.comm_wait;
  optimizer += o.optimizer;
  return *this;
}

void check_train_options(const TrainOptions& opt) {
  HPCT_CHECK(opt.epochs > 0, "option epochs: must be positive, got ", opt.epochs);
  HPCT_CHECK(opt.eval_every > 0, "option eval-every: must be positive, got ", opt.eval_every);
  HPCT_CHECK(opt.batch_size > 0, "option batch-size: must be positive, got ", opt.batch_size);
  HPCT_CHECK(opt.accum_steps > 0, "option accum-steps: must be positive, got ", opt.accum_steps);
  HPCT_CHECK(opt.clip_norm >= 0, "option optim.clip-norm: must be >= 0, got ", opt.clip_norm);
  HPCT_CHECK(opt.log_every >= 0, "option log-every: must be >= 0, got ", opt.log_every);
  HPCT_CHECK(opt.zero == 0 || opt.zero == 1, "option zero: must be 0 (off) or 1 (shard the optimizer state), got ",
             opt.zero);
  HPCT_CHECK(opt.data_workers >= 0 && opt.data_workers <= 64, "option data.workers: must be in [0, 64], got ",
             opt.data_workers);
  optim::Schedule(opt.sched, opt.optim.lr, 1);  // throws naming a bad sched.* option
}

namespace {

// The step's device scalars, in one f64 buffer so that a log point reads them all with one copy:
//   step loss {sum, count} (this optimizer step; the count is reduced over the ranks),
//   epoch loss {sum, count} (this rank's), the gradients' sum of squares, the step control, the
//   loss scaler's state.
struct DeviceScalars {
  static constexpr std::int64_t kStep = 0, kEpoch = 2, kSumsq = 4, kControl = 5,
                                kScaler = kControl + kernels::StepControl::kSize,
                                kSize = kScaler + kernels::ScalerState::kSize;
  Buffer buf;
  explicit DeviceScalars(kernels::Backend& be) : buf(be.allocator(), Shape{kSize}, DType::f64) { be.fill(buf, 0.0); }
  Tensor at(std::int64_t begin, std::int64_t n) const { return buf.tensor().flat_range(begin, n); }
  Tensor step_loss() const { return at(kStep, 2); }
  Tensor epoch_loss() const { return at(kEpoch, 2); }
  Tensor sumsq() const { return at(kSumsq, 1); }
  Tensor control() const { return at(kControl, kernels::StepControl::kSize); }
  Tensor scaler() const { return at(kScaler, kernels::ScalerState::kSize); }
};

class Trainer {
 public:
  Trainer(kernels::Backend& be, nn::Model& model, nn::LossKind loss, const TrainData& data, const TrainOptions& opt);
  // The model outlives the trainer: its grad-ready hook must not call into a dead Ddp.
  ~Trainer() { model_.set_grad_ready_hook(nullptr); }
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;
  TrainSummary run();
  // Where the run is, for error messages: "epoch E, step S".
  std::string where() const { return cat("epoch ", state_.epoch, ", step ", state_.step); }

 private:
  // The named steps of one micro-batch and of one optimizer step.
  void assemble_batch();
  Tensor forward_and_loss();
  void backward(const Tensor& dy);
  void reduce(bool last);
  void unscale_and_clip();
  void optimizer_step();
  // Checkpoints: whether one is due after this step (sync_point: the host waits here anyway), and
  // taking one of the state after `micro` micro-batches of `epoch`; a resume's restore.
  bool checkpoint_due(bool sync_point);
  bool stop_now() const;
  // Whether every rank stops after this optimizer step because a stop signal reached one of them.
  bool signal_stop_agreed();
  void checkpoint(std::int64_t epoch, std::int64_t micro);
  void restore(const CheckpointData::Resume& r);
  // The optimizer state's bytes on this rank, in the log and events (ZeRO-1: 1/ranks of unsharded).
  void report_optimizer_memory();
  std::vector<NamedArray> saved_optimizer_state();
  void load_optimizer_state(const std::vector<NamedArray>& saved);
  // Reads the device scalars (one host wait) and fails on divergence; returns them.
  std::vector<double> read_scalars();
  void end_epoch(const PhaseTimes& t, double train_seconds, std::int64_t syncs);
  // The progress line (and a step event) from the scalars just read.
  void report_progress(Progress::Due due, const std::vector<double>& v, double epoch_seconds, std::int64_t steps_done);

  kernels::Backend& be_;
  nn::Model& model_;
  nn::LossKind loss_kind_;
  const TrainData& data_;
  const TrainOptions& opt_;
  const data::Dataset& train_;
  const int world_, rank_;
  dist::Communicator* host_comm_;
  const data::DistributedSampler sampler_;
  const std::int64_t per_rank_, micro_per_epoch_, steps_per_epoch_;
  params::ParameterStore& params_;
  std::unique_ptr<dist::Ddp> ddp_;
  std::unique_ptr<optim::Optimizer> optimizer_;     // unsharded, or
  std::unique_ptr<optim::ZeroOptimizer> zero_;      // ZeRO-1: the state of this rank's blocks
  const optim::Schedule schedule_;
  BatchAssembler batch_;
  Workspace ws_;
  nn::ModelContext ctx_;
  DeviceScalars scalars_;
  optim::LossScaler scaler_;
  MetricsCsv csv_;
  const data::MemoryRows in_memory_;
  const data::RowSource& train_x_;
  data::Loader loader_;
  double ref_count_ = 1.0;  // loss elements of a full micro-batch: the gradient's constant scale
  double lr_ = 0.0;
  double mean_length_ = 0.0;
  TrainState state_;
  TrainSummary summary_;
  Stopwatch since_checkpoint_;
  Progress progress_{opt_.progress};
  double stop_votes_ = 0.0;  // the signal agreement's buffer: in flight from one step to the next
  dist::Handle stop_work_;
  double reported_skips_ = 0.0;  // skipped steps already reported (without fp16)
  int stop_signal_ = 0;      // the agreed stop: the signal seen here, or SIGTERM's number from a peer
};

// The loader's first batch for a resume: (epoch - 1) x B + micro; refuses a position beyond the run.
std::int64_t start_batch(const TrainOptions& opt, std::int64_t micro_per_epoch) {
  if (!opt.resume) return 0;
  const TrainState& s = opt.resume->state;
  HPCT_CHECK(s.micro >= 0 && s.micro < micro_per_epoch, "resume: the checkpoint's position (micro-batch ", s.micro,
             " of epoch ", s.epoch, ") does not fit ", micro_per_epoch, " micro-batches per epoch");
  const std::int64_t start = (s.epoch - 1) * micro_per_epoch + s.micro;
  HPCT_CHECK(s.epoch >= 1 && start <= opt.epochs * micro_per_epoch, "option --epochs: ", opt.epochs,
             " ends before the checkpoint (epoch ", s.epoch, ", micro-batch ", s.micro, "); train for more epochs");
  return start;
}

Trainer::Trainer(kernels::Backend& be, nn::Model& model, nn::LossKind loss, const TrainData& data,
                 const TrainOptions& opt)
    : be_(be), model_(model), loss_kind_(loss), data_(data), opt_(opt), train_(*data.train),
      world_(opt.comm ? opt.comm->size() : 1), rank_(opt.comm ? opt.comm->rank() : 0),
      host_comm_(opt.host_comm ? opt.host_comm : opt.comm),
      sampler_(train_.n, world_, rank_, opt.seed, true, opt.drop_last, opt.drop_last ? opt.batch_size : 1),
      per_rank_(sampler_.samples_per_rank()),
      micro_per_epoch_((per_rank_ + opt.batch_size - 1) / opt.batch_size),
      steps_per_epoch_((micro_per_epoch_ + opt.accum_steps - 1) / opt.accum_steps),
      params_(model.params()),
      schedule_(opt.sched, opt.optim.lr, steps_per_epoch_ * opt.epochs),
      batch_(be, params_.dtype()),
      ws_(be.allocator()),
      scalars_(be),
      scaler_(opt.scaler, scalars_.scaler()),
      csv_(rank_ == 0 ? opt.metrics_csv : std::string(), opt.resume ? opt.resume->state.history : std::vector<MetricsRow>{}),
      in_memory_(train_),
      train_x_(data.train_x ? *data.train_x : in_memory_),
      loader_(train_, train_x_, [this](std::int64_t epoch) { return sampler_.indices(epoch); }, per_rank_,
              {opt.batch_size, opt.epochs, opt.data_workers, 0, start_batch(opt, micro_per_epoch_)}) {
  HPCT_CHECK(opt.batch_size <= per_rank_, "option batch-size: ", opt.batch_size, " is larger than the ", per_rank_,
             " training rows per rank of ", train_.source, " (", train_.n, " rows over ", world_, " rank(s))");
  if (world_ > 1) {
    dist::DdpOptions ddp = opt.ddp;
    ddp.shard = opt.zero == 1;
    ddp_ = std::make_unique<dist::Ddp>(*opt.comm, params_, be, ddp);
    ddp_->broadcast_parameters();
    model.set_grad_ready_hook([this](std::int64_t offset) { ddp_->grads_ready_from(offset); });
  }
  if (ddp_ && opt.zero == 1)
    zero_ = std::make_unique<optim::ZeroOptimizer>(opt.optim, be, params_, *ddp_);
  else
    optimizer_ = optim::make_optimizer(opt.optim, be, params_);
  report_optimizer_memory();
  optim::check_loss_scaler_options(opt.scaler);
  scaler_.reset(be);
  state_.data_seed = opt.seed;
  if (opt.resume) restore(*opt.resume);
  // Valid positions per training row, for tokens/s (0 for tabular data).
  if (train_.is_sequence() && train_.n > 0) {
    for (std::int64_t r = 0; r < train_.n; ++r) mean_length_ += static_cast<double>(train_.length(r));
    mean_length_ /= static_cast<double>(train_.n);
  }
}

// The next batch from the prefetching loader, to the device (a copy stream the compute stream waits on).
void Trainer::assemble_batch() { batch_.upload(loader_.next(), train_x_.width()); }

// Forward, then the loss's gradient of its sum times the constant 1 / ref_count (and the loss scale)
// into dy; {sum, count} accumulate on the device. Losses run in float32 whatever the compute dtype.
Tensor Trainer::forward_and_loss() {
  // The dropout counter: one per micro-batch on every rank, so N ranks of batch B and one process of
  // batch N B number their micro-steps alike (nn::Pass).
  nn::Exec ex{be_, ws_, nn::Pass{true, state_.micro_steps++, batch_.row_ids()}};
  if (model_.owns_objective()) {  // ssvae: the model's own objective and its gradients, kept for backward
    const Tensor& labels = batch_.target();
    ref_count_ = static_cast<double>(opt_.batch_size);
    kernels::LossArgs args;
    args.grad_scale = 1.0 / ref_count_;
    args.grad_multiplier = scaler_.scale();
    model_.forward_objective(ex, batch_.input(), labels, args, scalars_.step_loss(), ctx_);
    return Tensor{};
  }
  Tensor out = model_.forward(ex, batch_.input(), ctx_);
  const Tensor& target = batch_.target();
  ref_count_ = static_cast<double>(opt_.batch_size * (target.numel() / target.dim(0)));
  const bool low = out.dtype != DType::f32;
  Tensor out32 = out;
  if (low) {
    out32 = ws_.alloc(out.shape, DType::f32);
    be_.cast(out, out32);
  }
  const Tensor dy32 = ws_.alloc(out.shape, DType::f32);
  kernels::LossArgs args;
  args.lengths = batch_.lengths();
  args.grad_scale = 1.0 / ref_count_;
  args.grad_multiplier = scaler_.scale();
  nn::compute_loss(be_, loss_kind_, out32, target, dy32, args, scalars_.step_loss());
  if (!low) return dy32;
  const Tensor dy = ws_.alloc(out.shape, out.dtype);
  be_.cast(dy32, dy);
  return dy;
}

void Trainer::backward(const Tensor& dy) {
  nn::Exec ex{be_, ws_, nn::Pass{true, state_.micro_steps - 1, batch_.row_ids()}};
  model_.backward(ex, ctx_, dy);
}

// The step's loss joins this rank's epoch loss; with several ranks its count is then summed over
// them after the last gradient bucket, and the compute stream waits for every bucket.
void Trainer::reduce(bool last) {
  if (last) be_.axpy(1.0, scalars_.step_loss(), scalars_.epoch_loss());
  if (ddp_) ddp_->finish_step(last ? scalars_.at(DeviceScalars::kStep + 1, 1) : Tensor{});
}

// The step's gradient is that of the loss summed over every element counted in the step (all ranks,
// all micro-batches) over their number: each micro-batch gave d(sum) / ref_count (times the loss scale)
// and DDP averaged over the ranks, so the multiplier is world * ref_count / (count * scale). With
// padding or ignored labels the micro-batches count different numbers of tokens, and the mean of their
// means (PyTorch DDP's) would weight the tokens unequally; this is the one-process gradient.
// The finite check skips a step, on every rank alike (the allreduce spreads an Inf or NaN). With
// clipping or the fp16 scaler it watches the gradients' sum of squares, one pass over them that also
// gives the norm; otherwise the step's loss sum, which costs nothing (a pass over the gradients cost
// the 256x3 MLP about 5% of its step): a non-finite gradient with a finite loss then shows in the next
// step's loss. With --nan.max-consecutive > 1 training goes on after a skip, so the check must see the
// reduced gradients, the same on every rank (a rank's own loss sum is not): the sum of squares again.
void Trainer::unscale_and_clip() {
  if (opt_.clip_norm > 0 || opt_.scaler.dynamic || opt_.nan_max_consecutive > 1) {
    if (zero_) {  // the global norm: the shards' sums of squares, summed over the ranks
      be_.sum_squares(ddp_->shard_grads(), scalars_.sumsq());
      ddp_->sum_over_ranks(scalars_.sumsq());
    } else {
      be_.sum_squares(params_.flat_grads(), scalars_.sumsq());
    }
  } else
    be_.copy(scalars_.sumsq(), scalars_.at(DeviceScalars::kStep, 1));
  kernels::StepControlArgs a;
  a.numerator = static_cast<double>(world_) * ref_count_;
  a.max_norm = opt_.clip_norm;
  a.check_finite = true;
  be_.step_control(a, scalars_.at(DeviceScalars::kStep + 1, 1), scalars_.sumsq(), scaler_.scale(), scalars_.control());
}

void Trainer::optimizer_step() {
  lr_ = schedule_.lr(state_.step);
  if (zero_)
    zero_->step(be_, lr_, scalars_.control());
  else
    optimizer_->step(be_, params_, lr_, scalars_.control());
  scaler_.update(be_, scalars_.control());
  be_.fill(scalars_.step_loss(), 0.0);
  ++state_.step;
  if (ddp_ && opt_.check_every > 0 && state_.step % opt_.check_every == 0)
    ddp_->check_in_sync(cat("at step ", state_.step));
}

std::vector<double> Trainer::read_scalars() {
  std::vector<double> v = be_.read<double>(scalars_.buf);
  using S = kernels::ScalerState;
  state_.scaler.assign(v.begin() + DeviceScalars::kScaler, v.end());
  const double skipped = state_.scaler[S::kSkipped];
  // Without the fp16 scaler a non-finite gradient is divergence once nan_max_consecutive steps in a
  // row were skipped: stop, naming where it began; fewer are reported and training goes on.
  if (!opt_.scaler.dynamic && skipped > 0) {
    const auto first = static_cast<std::int64_t>(state_.scaler[S::kFirstSkip]);
    const auto streak = static_cast<std::int64_t>(state_.scaler[S::kMaxStreak]);
    if (streak >= opt_.nan_max_consecutive) {
      if (opt_.nan_max_consecutive == 1)
        fail("training diverged: the loss or a gradient is not finite at epoch ", first / steps_per_epoch_ + 1,
             " step ", first, " (lower optim.lr or set optim.clip-norm)");
      fail("training stopped: ", streak, " optimizer steps in a row had a non-finite loss or gradient (--nan.max-consecutive ",
           opt_.nan_max_consecutive, "; ", skipped, " skipped in all, the first at epoch ", first / steps_per_epoch_ + 1,
           " step ", first, "); the weights are those of the last finite step and the last checkpoint is intact");
    }
    if (skipped > reported_skips_) {
      log::info(cat("skipped ", skipped - reported_skips_, " step(s) with a non-finite loss or gradient (", skipped,
                    " so far; --nan.max-consecutive ", opt_.nan_max_consecutive, ")"));
      reported_skips_ = skipped;
    }
  }
  return v;
}

bool Trainer::stop_now() const {
  return opt_.checkpoints.stop_after_steps > 0 && state_.step >= opt_.checkpoints.stop_after_steps;
}

// The local flag is summed over the ranks by an allreduce issued after this step and read after the
// next one (it has long finished: no wait), so every rank stops after the same step, one step after
// the signal reached the first of them. A single rank decides at once.
bool Trainer::signal_stop_agreed() {
  if (!opt_.stop_signal) return false;
  const int local = opt_.stop_signal->load();
  if (!host_comm_ || world_ == 1) {
    stop_signal_ = local;
    return local != 0;
  }
  bool stop = false;
  if (stop_work_) {
    stop_work_->wait_host();
    stop = stop_votes_ > 0;
  }
  if (stop) {
    stop_work_.reset();
    stop_signal_ = local ? local : SIGTERM;  // a peer's signal: this rank reports the usual one
    return true;
  }
  stop_votes_ = local ? 1.0 : 0.0;
  stop_work_ = host_comm_->allreduce(Tensor(&stop_votes_, Shape{1}, DType::f64), dist::ReduceOp::sum);
  return false;
}

// Every rank decides alike: the step count is the same everywhere, and the clock is rank 0's, sent to
// the others only at points where the host waits anyway.
bool Trainer::checkpoint_due(bool sync_point) {
  const TrainOptions::Checkpoints& c = opt_.checkpoints;
  if (stop_now()) return true;
  if (!c.write) return false;
  if (c.every_steps > 0 && state_.step % c.every_steps == 0) return true;
  if (c.every_minutes <= 0 || !sync_point) return false;
  std::int32_t due = since_checkpoint_.seconds() >= 60.0 * c.every_minutes ? 1 : 0;
  if (host_comm_ && world_ > 1) host_comm_->broadcast(Tensor(&due, Shape{1}, DType::i32), 0)->wait_host();
  return due != 0;
}

// The epoch's loss so far is summed over the ranks (each holds its own part) and saved by rank 0,
// which alone writes: parameters, optimizer state, and the device scalars it reads at this named point.
void Trainer::checkpoint(std::int64_t epoch, std::int64_t micro) {
  since_checkpoint_.reset();
  if (!opt_.checkpoints.write) return;
  const std::vector<double> v = read_scalars();
  double loss[2] = {v[DeviceScalars::kEpoch], v[DeviceScalars::kEpoch + 1]};
  if (host_comm_ && world_ > 1)
    host_comm_->allreduce(Tensor(loss, Shape{2}, DType::f64), dist::ReduceOp::sum)->wait_host();
  std::vector<NamedArray> optimizer_state = saved_optimizer_state();
  if (rank_ == 0) {
    CheckpointData c;
    c.params = parameters_to_host(be_, model_);
    CheckpointData::Resume r;
    r.state = state_;
    r.state.epoch = epoch;
    r.state.micro = micro;
    r.state.epoch_loss = {loss[0], loss[1]};
    r.optimizer = std::move(optimizer_state);
    c.resume = std::move(r);
    opt_.checkpoints.write(c);
  }
  if (zero_) zero_->release_master(be_);  // the master weights back in shards only
}

// The optimizer state as a checkpoint holds it: unsharded, in Optimizer::state() order, on rank 0.
// ZeRO-1 gathers every rank's blocks (collective: every rank calls this) and the master weights.
std::vector<NamedArray> Trainer::saved_optimizer_state() {
  std::vector<NamedArray> out;
  if (zero_) {
    zero_->gather_master(be_);
    const std::vector<std::string> names = zero_->state_names();
    for (std::size_t i = 0; i < names.size(); ++i) {
      std::vector<float> full = zero_->gather_state(be_, i);
      out.push_back({names[i], {static_cast<std::int64_t>(full.size())}, std::move(full)});
    }
    return out;
  }
  if (rank_ != 0) return out;
  for (const auto& [name, t] : optimizer_->state()) {
    HPCT_CHECK(t.dtype == DType::f32, "checkpoint: optimizer state ", name, " is not float32");
    out.push_back({name, t.shape.vec(), t.numel() ? be_.read<float>(t) : std::vector<float>{}});
  }
  return out;
}

// ZeRO-1 takes this rank's blocks out of the unsharded arrays.
void Trainer::load_optimizer_state(const std::vector<NamedArray>& saved) {
  std::vector<std::pair<std::string, Tensor>> state;
  if (zero_)
    for (const std::string& name : zero_->state_names()) state.emplace_back(name, Tensor{});
  else
    state = optimizer_->state();
  HPCT_CHECK(state.size() == saved.size(), "resume: the checkpoint holds ", saved.size(), " optimizer state tensors, ",
             zero_ ? zero_->describe() : optimizer_->describe(), " has ", state.size());
  for (std::size_t i = 0; i < state.size(); ++i) {
    const auto& [name, t] = state[i];
    const NamedArray& a = saved[i];
    HPCT_CHECK(a.name == name, "resume: optimizer state ", a.name, " does not fit ", name);
    if (zero_) {
      zero_->load_state(be_, i, a.values);
      continue;
    }
    HPCT_CHECK(static_cast<std::int64_t>(a.values.size()) == t.numel() && t.dtype == DType::f32,
               "resume: optimizer state ", a.name, " (", a.values.size(), " values) does not fit ", name, " (",
               t.numel(), " values)");
    if (t.numel()) be_.copy(t, Tensor(const_cast<float*>(a.values.data()), t.shape, DType::f32));
  }
}

void Trainer::report_optimizer_memory() {
  const std::int64_t mine = zero_ ? zero_->state_bytes() : optim::state_bytes(*optimizer_);
  const std::int64_t unsharded = zero_ ? zero_->unsharded_state_bytes() : mine;
  // The fp32 master weights of a 16-bit model: sharded with the state, or the store's whole copy.
  const std::int64_t master_unsharded = params_.has_master() ? params_.flat_size() * 4 : 0;
  const std::int64_t master = zero_ ? zero_->master_bytes() : master_unsharded;
  const std::string name = zero_ ? zero_->describe() : optimizer_->describe();
  log::info(cat("optimizer ", name, ": state ", mine, " bytes",
                master_unsharded ? cat(" + fp32 master weights ", master, " bytes") : std::string(), " per rank",
                zero_ ? cat(" (ZeRO-1: 1/", world_, " of ", unsharded + master_unsharded,
                            " bytes; gradients reduce-scattered)")
                : opt_.zero == 1 ? std::string(" (unsharded: --zero 1 shards over more than one rank)")
                                 : std::string(" (unsharded)")));
  if (opt_.events)
    opt_.events->write("optimizer", JsonObject()
                                        .add("optimizer", name)
                                        .add("zero", zero_ ? 1 : 0)
                                        .add("ranks", world_)
                                        .add("state_bytes_per_rank", mine)
                                        .add("state_bytes_unsharded", unsharded)
                                        .add("master_bytes_per_rank", master)
                                        .add("master_bytes_unsharded", master_unsharded));
}

// Counters and the sampler's position come from the state; the device scalars are rebuilt from it:
// the optimizer's step count (Adam's bias correction) is the steps taken less the skipped ones, the
// epoch's loss so far sits on rank 0 (the epoch end sums the ranks), the scaler is as saved.
void Trainer::restore(const CheckpointData::Resume& r) {
  HPCT_CHECK(r.state.data_seed == opt_.seed, "resume: the checkpoint's data seed ", r.state.data_seed,
             " differs from option --seed ", opt_.seed);
  using S = kernels::ScalerState;
  HPCT_CHECK(r.state.scaler.size() == S::kSize || r.state.scaler.size() == S::kSizeV1, "resume: the checkpoint's scaler state has ",
             r.state.scaler.size(), " values, expected ", S::kSize);
  std::vector<double> scaler = r.state.scaler;
  scaler.resize(S::kSize, 0.0);  // an older checkpoint: no skip streaks
  load_optimizer_state(r.optimizer);
  std::vector<double> v(DeviceScalars::kSize, 0.0);
  v[DeviceScalars::kControl + kernels::StepControl::kStep] = static_cast<double>(r.state.step) - r.state.scaler[S::kSkipped];
  if (rank_ == 0) std::copy(r.state.epoch_loss.begin(), r.state.epoch_loss.end(), v.begin() + DeviceScalars::kEpoch);
  std::copy(scaler.begin(), scaler.end(), v.begin() + DeviceScalars::kScaler);
  be_.copy(scalars_.buf, Tensor(v.data(), Shape{DeviceScalars::kSize}, DType::f64));
  be_.synchronize();  // v and the arrays are host memory of the caller's
  state_ = r.state;
  state_.scaler = scaler;
}

TrainSummary Trainer::run() {
  summary_.val_loss = std::numeric_limits<double>::quiet_NaN();
  Stopwatch total, phase;
  double timed_seconds = 0.0;
  std::int64_t timed_samples = 0;
  // Resumed from the checkpoint after the last epoch: nothing to train; the summary is its last row's.
  if (state_.epoch > opt_.epochs && !state_.history.empty()) {
    for (const auto& [name, value] : state_.history.back()) {
      if (name == "train_loss")
        summary_.train_loss = value;
      else if (name == "val_loss")
        summary_.val_loss = value;
      else if (name.rfind("val_", 0) == 0)
        summary_.val_metrics.emplace_back(name.substr(4), value);
    }
  }
  bool signal_at_epoch_end = false;  // the agreed stop fell on an epoch's last step
  for (; state_.epoch <= opt_.epochs; ++state_.epoch, state_.micro = 0) {
    Stopwatch epoch_clock;
    PhaseTimes t;
    const std::int64_t syncs_before = be_.host_syncs(), throttles_before = be_.throttle_waits();
    const std::int64_t steps_before = state_.step;
    // A phase ends: its host time, and with --trace its span on the host's track and (device_span_*)
    // on the compute stream's device track; the next phase's device span starts here.
    auto lap = [&](double& into, const char* name) {
      const double s = phase.seconds();
      into += s;
      if (trace::enabled()) {
        trace::complete(name, "phase", trace::now_us() - 1e6 * s, trace::now_us());
        be_.device_span_end(name, "phase");
        be_.device_span_begin();
      }
      phase.reset();
    };
    for (; state_.micro < micro_per_epoch_; ++state_.micro) {
      // Micro-step k of an accumulation group; the group's last one communicates and steps.
      const std::int64_t k = state_.micro % opt_.accum_steps;
      const bool last = k == opt_.accum_steps - 1 || state_.micro == micro_per_epoch_ - 1;
      trace::at_step(state_.step);
      phase.reset();
      if (trace::enabled()) be_.device_span_begin();
      ws_.reset();
      assemble_batch();
      if (k == 0) params_.zero_grads(be_);
      if (ddp_) ddp_->begin_step(/*sync=*/last);
      lap(t.data, "data");
      const Tensor dy = forward_and_loss();
      lap(t.forward, "forward");
      if (last && state_.step >= opt_.overflow_step && state_.step < opt_.overflow_step + opt_.overflow_steps &&
          opt_.overflow_step >= 0 && rank_ == opt_.overflow_rank && !dy.empty())
        be_.fill(dy.flat_range(0, 1), std::numeric_limits<double>::infinity());
      backward(dy);
      lap(t.backward, "backward");
      reduce(last);
      lap(t.comm_wait, "comm_wait");
      if (!last) continue;
      unscale_and_clip();
      optimizer_step();
      lap(t.optimizer, "optimizer");
      const bool signalled = signal_stop_agreed();
      if (state_.micro + 1 == micro_per_epoch_) {  // the epoch's end logs and checkpoints
        signal_at_epoch_end = signalled;
        continue;
      }
      if (signalled) {
        checkpoint(state_.epoch, state_.micro + 1);
        ++state_.micro;
        break;
      }
      // Every rank checks divergence at --log-every; the printing rank also at its progress points.
      const bool logged = opt_.log_every > 0 && state_.step % opt_.log_every == 0;
      const Progress::Due due = progress_.due(state_.step);
      if (logged || due != Progress::Due::none) {
        const std::vector<double> v = read_scalars();
        report_progress(due, v, epoch_clock.seconds(), state_.step - steps_before);
      }
      if (checkpoint_due(logged)) {
        checkpoint(state_.epoch, state_.micro + 1);
        if (stop_now()) break;
      }
      phase.reset();
    }
    if ((stop_now() || stop_signal_) && state_.micro < micro_per_epoch_) {  // stopped within the epoch, after its checkpoint
      summary_.stopped = true;
      break;
    }
    const std::int64_t syncs = be_.host_syncs() - syncs_before, steps = state_.step - steps_before;
    summary_.throttle_waits_per_step =
        steps ? static_cast<double>(be_.throttle_waits() - throttles_before) / static_cast<double>(steps) : 0.0;
    const std::vector<double> v = read_scalars();  // waits for the epoch's work
    const double train_seconds = epoch_clock.seconds();
    // Throughput counts training only: the validation pass is timed on its own (t_eval).
    if (state_.epoch > 1 || opt_.epochs == 1) {  // the first epoch pays for allocations; leave it out
      timed_seconds += train_seconds;
      timed_samples += per_rank_ * world_;
    }
    summary_.host_syncs_per_step = steps ? static_cast<double>(syncs) / static_cast<double>(steps) : 0.0;
    double loss[2] = {v[DeviceScalars::kEpoch], v[DeviceScalars::kEpoch + 1]};
    if (host_comm_ && world_ > 1)
      host_comm_->allreduce(Tensor(loss, Shape{2}, DType::f64), dist::ReduceOp::sum)->wait_host();
    summary_.train_loss = loss[0] / loss[1];
    be_.fill(scalars_.epoch_loss(), 0.0);
    end_epoch(t, train_seconds, syncs);
    if (state_.epoch == opt_.epochs || checkpoint_due(/*sync_point=*/true) || signal_at_epoch_end)
      checkpoint(state_.epoch + 1, 0);
    if ((stop_now() || signal_at_epoch_end) && state_.epoch < opt_.epochs) {
      summary_.stopped = true;
      break;
    }
  }
  if (stop_work_) stop_work_->wait_host();  // the last step's vote: every rank issued it
  if (zero_) zero_->gather_master(be_);  // the fp32 weights whole for model.h5
  summary_.stop_signal = summary_.stopped ? stop_signal_ : 0;
  summary_.epochs = opt_.epochs;
  summary_.steps = state_.step;
  summary_.seconds = total.seconds();
  summary_.samples_per_s = timed_seconds > 0 ? static_cast<double>(timed_samples) / timed_seconds : 0.0;
  summary_.tokens_per_s = summary_.samples_per_s * mean_length_;
  summary_.skipped_steps = static_cast<std::int64_t>(state_.scaler[kernels::ScalerState::kSkipped]);
  summary_.loss_scale = state_.scaler[kernels::ScalerState::kScale];
  return summary_;
}

void Trainer::report_progress(Progress::Due due, const std::vector<double>& v, double epoch_seconds,
                              std::int64_t steps_done) {
  if (due == Progress::Due::none || steps_done <= 0) return;
  ProgressPoint p;
  p.epoch = state_.epoch;
  p.epochs = opt_.epochs;
  p.steps_per_epoch = steps_per_epoch_;
  p.step_in_epoch = std::min(steps_per_epoch_, (state_.micro + opt_.accum_steps) / opt_.accum_steps);
  p.step = state_.step;
  p.loss = v[DeviceScalars::kEpoch] / std::max(1.0, v[DeviceScalars::kEpoch + 1]);
  p.lr = lr_;
  const double per_step = epoch_seconds / static_cast<double>(steps_done);
  p.samples_per_s = static_cast<double>(steps_done * opt_.accum_steps * opt_.batch_size * world_) / epoch_seconds;
  p.tokens_per_s = p.samples_per_s * mean_length_;
  p.epoch_eta_s = per_step * static_cast<double>(steps_per_epoch_ - p.step_in_epoch);
  p.run_eta_s = p.epoch_eta_s + per_step * static_cast<double>(steps_per_epoch_ * (opt_.epochs - state_.epoch));
  progress_.show(p, due);
  if (due == Progress::Due::log && opt_.events)
    opt_.events->write("step", JsonObject()
                                   .add("epoch", p.epoch)
                                   .add("step", p.step)
                                   .add("step_in_epoch", p.step_in_epoch)
                                   .add("steps_per_epoch", p.steps_per_epoch)
                                   .add("train_loss_so_far", p.loss)
                                   .add("lr", p.lr)
                                   .add("samples_per_s", p.samples_per_s)
                                   .add("tokens_per_s", p.tokens_per_s)
                                   .add("eta_epoch_s", p.epoch_eta_s)
                                   .add("eta_run_s", p.run_eta_s));
}

void Trainer::end_epoch(const PhaseTimes& t, double train_seconds, std::int64_t syncs) {
  const std::int64_t epoch = state_.epoch;
  std::vector<std::pair<std::string, double>> row = {{"epoch", static_cast<double>(epoch)},
                                                     {"step", static_cast<double>(state_.step)},
                                                     {"lr", lr_},
                                                     {"train_loss", summary_.train_loss}};
  std::string line = cat("epoch ", epoch, "/", opt_.epochs, " train_loss=", std::setprecision(5), summary_.train_loss);
  const bool validate = data_.val_truth && data_.val_truth->n > 0;
  const bool evaluate_now = validate && (epoch % opt_.eval_every == 0 || epoch == opt_.epochs);
  const bool language_model = model_.spec().type == "lm";
  Stopwatch eval_clock;
  if (evaluate_now) {
    // Validation batches: the training batch for the transformers, whose activations (rows x L x width,
    // per layer) a larger batch would allocate again; at least 256 rows for the MLP, whose rows are
    // too cheap to fill a pass on their own.
    const std::int64_t eval_batch =
        model_.spec().type != "mlp" ? opt_.batch_size : std::max<std::int64_t>(opt_.batch_size, 256);
    const Evaluation ev =
        evaluate_sharded(be_, model_, loss_kind_, *data_.val, data_.val_truth->n, host_comm_, eval_batch, ws_);
    summary_.val_loss = ev.loss.mean();
    summary_.val_metrics = compute_metrics(interpret_outputs(loss_kind_, ev.raw, data_.val_truth->n,
                                                             model_.spec().out_features, *data_.standardization,
                                                             ev.positions),
                                           *data_.val_truth, language_model);
    line += cat(" val_loss=", summary_.val_loss) + format_metrics(summary_.val_metrics);
  }
  if (validate) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    row.emplace_back("val_loss", evaluate_now ? summary_.val_loss : nan);
    const std::vector<std::string> names = metric_names(loss_kind_, language_model);
    for (std::size_t i = 0; i < names.size(); ++i)
      row.emplace_back("val_" + names[i], evaluate_now ? summary_.val_metrics[i].second : nan);
  }
  const double eval_seconds = eval_clock.seconds();
  const double rate = static_cast<double>(per_rank_ * world_) / train_seconds;
  row.emplace_back("samples_per_s", rate);
  if (mean_length_ > 0) row.emplace_back("tokens_per_s", rate * mean_length_);
  row.emplace_back("epoch_seconds", train_seconds + eval_seconds);
  for (const auto& [name, seconds] : {std::pair{"t_data", t.data}, {"t_forward", t.forward}, {"t_backward", t.backward},
                                      {"t_comm_wait", t.comm_wait}, {"t_optimizer", t.optimizer},
                                      {"t_eval", eval_seconds}})
    row.emplace_back(name, seconds);
  row.emplace_back("host_syncs", static_cast<double>(syncs));
  if (opt_.scaler.dynamic) row.emplace_back("loss_scale", state_.scaler[kernels::ScalerState::kScale]);
  if (opt_.scaler.dynamic || opt_.nan_max_consecutive > 1)
    row.emplace_back("skipped_steps", state_.scaler[kernels::ScalerState::kSkipped]);
  summary_.phases += t;
  csv_.row(row);
  if (opt_.events) {  // the metrics row, and whether this epoch was evaluated
    JsonObject e;
    for (const auto& [name, value] : row) e.add(name, value);
    opt_.events->write("epoch", e.add("evaluated", evaluate_now));
  }
  state_.history.push_back(row);
  std::ostringstream tail;
  tail << std::fixed << std::setprecision(0) << " | " << rate << " samples/s";
  if (mean_length_ > 0) tail << " (" << rate * mean_length_ << " tokens/s)";
  tail << std::setprecision(2) << " | " << summary_.host_syncs_per_step << " host syncs/step";
  if (summary_.throttle_waits_per_step > 0)
    tail << " (" << summary_.throttle_waits_per_step << " flow-control waits/step)";
  if (opt_.scaler.dynamic)
    tail << std::setprecision(0) << " | loss scale " << state_.scaler[kernels::ScalerState::kScale] << ", "
         << state_.scaler[kernels::ScalerState::kSkipped] << " skipped step(s)";
  log::info(line + tail.str());
}

}  // namespace

TrainSummary fit(kernels::Backend& be, nn::Model& model, nn::LossKind loss_kind, const TrainData& data,
                 const TrainOptions& opt) {
  check_train_options(opt);
  Trainer trainer(be, model, loss_kind, data, opt);
  try {
    return trainer.run();
  } catch (const Error& e) {  // a failed collective, a bad batch: say where the run was
    const std::string what = e.what();
    if (what.find(" step ") != std::string::npos) throw;
    throw Error(cat(what, " (at ", trainer.where(), ")"));
  }
}

}  // namespace hpct::train
