#include "train/trainer.hpp"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <limits>
#include <sstream>

#include "core/atomic_file.hpp"
#include "core/log.hpp"
#include "data/distributed_sampler.hpp"
#include "data/loader.hpp"
#include "core/timer.hpp"
#include "optim/clip.hpp"
#include "train/batch.hpp"
#include "train/evaluate.hpp"
#include "train/predictions.hpp"

namespace hpct::train {

namespace {

// One row of metrics.csv per epoch; the header is written with the first row. Rows go to a
// temporary file that commit() renames into place, so a failed run leaves an earlier metrics.csv as
// it was.
class MetricsCsv {
 public:
  explicit MetricsCsv(const std::string& path) : path_(path) {
    if (path.empty()) return;
    out_.open(temporary_path(path), std::ios::trunc);
    HPCT_CHECK(out_, path, ": cannot write the metrics file");
  }
  ~MetricsCsv() {
    if (path_.empty() || committed_) return;
    out_.close();
    std::remove(temporary_path(path_).c_str());
  }
  void commit() {
    if (path_.empty()) return;
    out_.close();
    HPCT_CHECK(std::rename(temporary_path(path_).c_str(), path_.c_str()) == 0, path_, ": cannot rename into place");
    committed_ = true;
  }
  // NaN values are written as empty cells (e.g. validation columns of epochs without evaluation).
  void row(const std::vector<std::pair<std::string, double>>& cols) {
    if (path_.empty()) return;
    if (!header_written_) {
      for (std::size_t i = 0; i < cols.size(); ++i) out_ << (i ? "," : "") << cols[i].first;
      out_ << '\n';
      header_written_ = true;
    }
    out_ << std::setprecision(9);
    for (std::size_t i = 0; i < cols.size(); ++i) {
      out_ << (i ? "," : "");
      if (!std::isnan(cols[i].second)) out_ << cols[i].second;
    }
    out_ << '\n' << std::flush;
    HPCT_CHECK(out_, path_, ": writing the metrics file failed");
  }

 private:
  std::string path_;
  std::ofstream out_;
  bool header_written_ = false, committed_ = false;
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
                            std::int64_t total_rows, dist::Communicator* comm, std::int64_t batch_size) {
  if (!comm || comm->size() == 1) return evaluate(be, model, loss, shard, batch_size);
  const int world = comm->size();
  const std::int64_t positions = output_positions(model, shard);
  const std::int64_t width = model.spec().out_features * positions, max_rows = (total_rows + world - 1) / world;
  Evaluation local = shard.n ? evaluate(be, model, loss, shard, batch_size) : Evaluation{};
  double sums[2] = {local.loss.sum, static_cast<double>(local.loss.count)};
  comm->allreduce(Tensor(sums, Shape{2}, DType::f64), dist::ReduceOp::sum)->wait();
  std::vector<float> send(static_cast<std::size_t>(max_rows * width), 0.0f);
  std::copy(local.raw.begin(), local.raw.end(), send.begin());
  std::vector<float> all(send.size() * static_cast<std::size_t>(world));
  comm->allgather(Tensor(send.data(), Shape{static_cast<std::int64_t>(send.size())}, DType::f32),
                  Tensor(all.data(), Shape{static_cast<std::int64_t>(all.size())}, DType::f32))
      ->wait();
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
  HPCT_CHECK(opt.data_workers >= 0 && opt.data_workers <= 64, "option data.workers: must be in [0, 64], got ",
             opt.data_workers);
  optim::Schedule(opt.sched, opt.optim.lr, 1);  // throws naming a bad sched.* option
}

TrainSummary fit(kernels::Backend& be, nn::Model& model, nn::LossKind loss_kind, const TrainData& data,
                 const TrainOptions& opt) {
  const data::Dataset& train = *data.train;
  check_train_options(opt);
  const int world = opt.comm ? opt.comm->size() : 1, rank = opt.comm ? opt.comm->rank() : 0;
  const data::DistributedSampler sampler(train.n, world, rank, opt.seed);
  const std::int64_t per_rank = sampler.samples_per_rank();
  HPCT_CHECK(opt.batch_size <= per_rank, "option batch-size: ", opt.batch_size, " is larger than the ", per_rank,
             " training rows per rank of ", train.source, " (", train.n, " rows over ", world, " rank(s))");

  params::ParameterStore& params = model.params();
  std::unique_ptr<dist::Ddp> ddp;
  if (world > 1) {
    ddp = std::make_unique<dist::Ddp>(*opt.comm, params, be, opt.ddp);
    ddp->broadcast_parameters();
    model.set_grad_ready_hook([&](std::int64_t offset) { ddp->grads_ready_from(offset); });
  }
  const std::int64_t micro_per_epoch = (per_rank + opt.batch_size - 1) / opt.batch_size;
  const std::int64_t steps_per_epoch = (micro_per_epoch + opt.accum_steps - 1) / opt.accum_steps;
  auto optimizer = optim::make_optimizer(opt.optim, be, params);
  const optim::Schedule schedule(opt.sched, opt.optim.lr, steps_per_epoch * opt.epochs);
  BatchAssembler batch(be, params.dtype());
  Buffer dout;
  MetricsCsv csv(rank == 0 ? opt.metrics_csv : std::string());
  const bool validate = data.val_truth && data.val_truth->n > 0;
  const bool language_model = model.spec().type == "lm";
  const data::MemoryRows in_memory(train);
  const data::RowSource& train_x = data.train_x ? *data.train_x : in_memory;
  data::Loader loader(train, train_x, [&sampler](std::int64_t epoch) { return sampler.indices(epoch); },
                      per_rank, {opt.batch_size, opt.epochs, opt.data_workers, 0});

  // Valid positions per training row, for tokens/s (0 for tabular data).
  double mean_length = 0.0;
  if (train.is_sequence() && train.n > 0) {
    for (std::int64_t r = 0; r < train.n; ++r) mean_length += static_cast<double>(train.length(r));
    mean_length /= static_cast<double>(train.n);
  }
  TrainSummary summary;
  summary.val_loss = std::numeric_limits<double>::quiet_NaN();
  Stopwatch total;
  double timed_seconds = 0.0;
  std::int64_t timed_samples = 0, step = 0, micro_steps = 0;  // optimizer steps, forward passes
  Stopwatch phase;
  for (std::int64_t epoch = 1; epoch <= opt.epochs; ++epoch) {
    Stopwatch epoch_clock;
    PhaseTimes t;
    auto lap = [&](double& into) {
      into += phase.seconds();
      phase.reset();
    };
    double loss[2] = {0.0, 0.0};  // sum, count: reduced over the ranks at the end of the epoch
    double lr = 0.0;
    double step_count = 0.0;  // elements the loss counted in this optimizer step, on this rank
    for (std::int64_t micro = 0; micro < micro_per_epoch; ++micro) {
      // Micro-step k of an accumulation group; the group's last one communicates and steps.
      const std::int64_t k = micro % opt.accum_steps;
      const bool last = k == opt.accum_steps - 1 || micro == micro_per_epoch - 1;
      phase.reset();
      batch.upload(loader.next(), train_x.width());
      if (k == 0) params.zero_grads(be);
      if (ddp) ddp->begin_step(/*sync=*/last);
      lap(t.data);
      const Tensor out = model.forward(be, batch.input(), nn::Pass{true, static_cast<std::uint64_t>(micro_steps++)});
      const Tensor& dy = dout.ensure(be.allocator(), out.shape, out.dtype);
      const double ref_count = static_cast<double>(opt.batch_size * (batch.target().numel() / batch.target().dim(0)));
      const nn::LossValue lv = nn::compute_loss(be, loss_kind, out, batch.target(), dy, 1.0 / ref_count,
                                                batch.lengths_or_null(), /*grad_of_sum=*/true);
      HPCT_CHECK(std::isfinite(lv.sum), "training diverged: the loss is ", lv.sum, " at epoch ", epoch,
                 " step ", step, " (lower optim.lr or set optim.clip-norm)");
      loss[0] += lv.sum;
      loss[1] += static_cast<double>(lv.count);
      step_count += static_cast<double>(lv.count);
      lap(t.forward);
      model.backward(be, dy);
      lap(t.backward);
      if (ddp) t.comm_wait += ddp->finish_step();
      phase.reset();
      if (!last) continue;
      // The step's gradient is that of the loss summed over every element counted in the step (all
      // ranks, all micro-batches) over their number: each micro-batch gave d(sum) / ref_count and DDP
      // averaged over the ranks, so the gradients are scaled by world * ref_count / total. With padding
      // or ignored labels the micro-batches count different numbers of tokens, and the mean of their
      // means (PyTorch DDP's) would weight the tokens unequally; this is the one-process gradient.
      if (world > 1) {
        opt.comm->allreduce(Tensor(&step_count, Shape{1}, DType::f64), dist::ReduceOp::sum)->wait();
        lap(t.comm_wait);
      }
      if (step_count > 0) {  // else nothing was counted and the gradients are 0
        const double grad_scale = world * ref_count / step_count;
        if (grad_scale != 1.0) be.scale(params.flat_grads(), grad_scale);
      }
      step_count = 0.0;
      // The norm costs a pass over every gradient: only when clipping is on.
      if (opt.clip_norm > 0) optim::clip_grad_norm(be, params.flat_grads(), opt.clip_norm);
      lr = schedule.lr(step);
      optimizer->step(be, params, lr);
      ++step;
      if (ddp && opt.check_every > 0 && step % opt.check_every == 0) ddp->check_in_sync(cat("at step ", step));
      lap(t.optimizer);
    }
    be.synchronize();
    if (opt.comm && world > 1) opt.comm->allreduce(Tensor(loss, Shape{2}, DType::f64), dist::ReduceOp::sum)->wait();
    // Throughput counts training only: the validation pass below is timed on its own (t_eval).
    const double train_seconds = epoch_clock.seconds();
    if (epoch > 1 || opt.epochs == 1) {  // the first epoch pays for allocations; leave it out
      timed_seconds += train_seconds;
      timed_samples += per_rank * world;
    }
    summary.train_loss = loss[0] / loss[1];

    std::vector<std::pair<std::string, double>> row = {{"epoch", static_cast<double>(epoch)},
                                                       {"step", static_cast<double>(step)},
                                                       {"lr", lr},
                                                       {"train_loss", summary.train_loss}};
    std::string line = cat("epoch ", epoch, "/", opt.epochs, " train_loss=", std::setprecision(5),
                           summary.train_loss);
    const bool evaluate_now = validate && (epoch % opt.eval_every == 0 || epoch == opt.epochs);
    Stopwatch eval_clock;
    if (evaluate_now) {
      // Validation batches: the training batch for the transformers, whose activation buffers (rows x
      // L x width, per layer) a larger batch would allocate again (the lm at 256 rows: ~1 GB more);
      // at least 256 rows for the MLP, whose rows are too cheap to fill a pass on their own.
      const std::int64_t eval_batch =
          model.spec().is_transformer() ? opt.batch_size : std::max<std::int64_t>(opt.batch_size, 256);
      const Evaluation ev =
          evaluate_sharded(be, model, loss_kind, *data.val, data.val_truth->n, opt.comm, eval_batch);
      summary.val_loss = ev.loss.mean();
      summary.val_metrics = compute_metrics(interpret_outputs(loss_kind, ev.raw, data.val_truth->n,
                                                              model.spec().out_features, *data.standardization,
                                                              ev.positions),
                                            *data.val_truth, language_model);
      line += cat(" val_loss=", summary.val_loss) + format_metrics(summary.val_metrics);
    }
    if (validate) {
      const double nan = std::numeric_limits<double>::quiet_NaN();
      row.emplace_back("val_loss", evaluate_now ? summary.val_loss : nan);
      const std::vector<std::string> names = metric_names(loss_kind, language_model);
      for (std::size_t i = 0; i < names.size(); ++i)
        row.emplace_back("val_" + names[i], evaluate_now ? summary.val_metrics[i].second : nan);
    }
    const double eval_seconds = eval_clock.seconds();
    const double rate = static_cast<double>(per_rank * world) / train_seconds;
    row.emplace_back("samples_per_s", rate);
    if (mean_length > 0) row.emplace_back("tokens_per_s", rate * mean_length);
    row.emplace_back("epoch_seconds", train_seconds + eval_seconds);
    for (const auto& [name, seconds] : {std::pair{"t_data", t.data}, {"t_forward", t.forward}, {"t_backward", t.backward},
                                        {"t_comm_wait", t.comm_wait}, {"t_optimizer", t.optimizer},
                                        {"t_eval", eval_seconds}})
      row.emplace_back(name, seconds);
    summary.phases += t;
    csv.row(row);
    std::ostringstream tail;
    tail << std::fixed << std::setprecision(0) << " | " << rate << " samples/s";
    if (mean_length > 0) tail << " (" << rate * mean_length << " tokens/s)";
    log::info(line + tail.str());
  }
  csv.commit();
  summary.epochs = opt.epochs;
  summary.steps = step;
  summary.seconds = total.seconds();
  summary.samples_per_s = timed_seconds > 0 ? static_cast<double>(timed_samples) / timed_seconds : 0.0;
  summary.tokens_per_s = summary.samples_per_s * mean_length;
  return summary;
}

}  // namespace hpct::train
