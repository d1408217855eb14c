#include "train/trainer.hpp"

#include <cmath>
#include <fstream>
#include <iomanip>
#include <limits>
#include <numeric>
#include <random>
#include <sstream>

#include "core/log.hpp"
#include "data/distributed_sampler.hpp"
#include "core/timer.hpp"
#include "optim/clip.hpp"
#include "train/batch.hpp"
#include "train/evaluate.hpp"
#include "train/predictions.hpp"

namespace hpct::train {

namespace {

// One row of metrics.csv per epoch; the header is written with the first row.
class MetricsCsv {
 public:
  explicit MetricsCsv(const std::string& path) : path_(path) {
    if (path.empty()) return;
    out_.open(path, std::ios::trunc);
    HPCT_CHECK(out_, path, ": cannot write the metrics file");
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
  bool header_written_ = false;
};

std::string format_metrics(const Metrics& m) {
  std::ostringstream os;
  os << std::setprecision(5);
  for (const auto& [name, value] : m) os << " " << name << "=" << value;
  return os.str();
}

}  // namespace

TrainSummary fit(kernels::Backend& be, nn::Model& model, nn::LossKind loss, const TrainData& data,
                 const TrainOptions& opt) {
  const data::Dataset& train = *data.train;
  HPCT_CHECK(opt.epochs > 0, "option epochs: must be positive, got ", opt.epochs);
  HPCT_CHECK(opt.eval_every > 0, "option eval-every: must be positive, got ", opt.eval_every);
  HPCT_CHECK(opt.batch_size > 0, "option batch-size: must be positive, got ", opt.batch_size);
  HPCT_CHECK(opt.batch_size <= train.n, "option batch-size: ", opt.batch_size, " is larger than the ",
             train.n, " training rows of ", train.source);

  nn::ParameterStore& params = model.params();
  const std::int64_t steps_per_epoch = (train.n + opt.batch_size - 1) / opt.batch_size;
  auto optimizer = optim::make_optimizer(opt.optim, be, params);
  const optim::Schedule schedule(opt.sched, opt.optim.lr, steps_per_epoch * opt.epochs);
  BatchAssembler batch(be, params.dtype());
  Buffer dout;
  MetricsCsv csv(opt.metrics_csv);

  TrainSummary summary;
  summary.val_loss = std::numeric_limits<double>::quiet_NaN();
  Stopwatch total;
  double timed_seconds = 0.0;
  std::int64_t timed_samples = 0, step = 0;
  for (std::int64_t epoch = 1; epoch <= opt.epochs; ++epoch) {
    const std::vector<std::int64_t> order = data::epoch_permutation(train.n, opt.seed, epoch);
    Stopwatch epoch_clock;
    double loss_sum = 0.0;
    std::int64_t loss_count = 0;
    double lr = 0.0;
    for (std::int64_t begin = 0; begin < train.n; begin += opt.batch_size, ++step) {
      const std::int64_t count = std::min(opt.batch_size, train.n - begin);
      batch.gather(train, order.data() + begin, count);
      params.zero_grads(be);
      const Tensor out = model.forward(be, batch.x(), nn::Pass{true, static_cast<std::uint64_t>(step)});
      const Tensor& dy = dout.ensure(be.allocator(), out.shape, out.dtype);
      const nn::LossValue lv = nn::compute_loss(be, loss, out, batch.target(), dy);
      HPCT_CHECK(std::isfinite(lv.sum), "training diverged: the loss is ", lv.sum, " at epoch ", epoch,
                 " step ", step, " (lower optim.lr or set optim.clip-norm)");
      loss_sum += lv.sum;
      loss_count += lv.count;
      model.backward(be, dy);
      optim::clip_grad_norm(be, params.flat_grads(), opt.clip_norm);
      lr = schedule.lr(step);
      optimizer->step(be, params, lr);
    }
    be.synchronize();
    const double epoch_seconds = epoch_clock.seconds();
    if (epoch > 1 || opt.epochs == 1) {  // the first epoch pays for allocations; leave it out
      timed_seconds += epoch_seconds;
      timed_samples += train.n;
    }
    summary.train_loss = loss_sum / static_cast<double>(loss_count);

    std::vector<std::pair<std::string, double>> row = {{"epoch", static_cast<double>(epoch)},
                                                       {"step", static_cast<double>(step)},
                                                       {"lr", lr},
                                                       {"train_loss", summary.train_loss}};
    std::string line = cat("epoch ", epoch, "/", opt.epochs, " train_loss=", std::setprecision(5),
                           summary.train_loss);
    const bool evaluate_now = data.val && (epoch % opt.eval_every == 0 || epoch == opt.epochs);
    if (evaluate_now) {
      const Evaluation ev = evaluate(be, model, loss, *data.val, std::max<std::int64_t>(opt.batch_size, 256));
      summary.val_loss = ev.loss.mean();
      summary.val_metrics = compute_metrics(
          interpret_outputs(loss, ev.raw, data.val->n, model.spec().out_features, *data.standardization),
          *data.val_truth);
      line += cat(" val_loss=", summary.val_loss) + format_metrics(summary.val_metrics);
    }
    if (data.val) {
      const double nan = std::numeric_limits<double>::quiet_NaN();
      row.emplace_back("val_loss", evaluate_now ? summary.val_loss : nan);
      const std::vector<std::string> names = metric_names(loss);
      for (std::size_t i = 0; i < names.size(); ++i)
        row.emplace_back("val_" + names[i], evaluate_now ? summary.val_metrics[i].second : nan);
    }
    const double rate = static_cast<double>(train.n) / epoch_seconds;
    row.emplace_back("samples_per_s", rate);
    row.emplace_back("epoch_seconds", epoch_seconds);
    csv.row(row);
    std::ostringstream tail;
    tail << std::fixed << std::setprecision(0) << " | " << rate << " samples/s";
    log::info(line + tail.str());
  }
  summary.epochs = opt.epochs;
  summary.steps = step;
  summary.seconds = total.seconds();
  summary.samples_per_s = timed_seconds > 0 ? static_cast<double>(timed_samples) / timed_seconds : 0.0;
  return summary;
}

}  // namespace hpct::train
