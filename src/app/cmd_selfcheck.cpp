// hpctrain selfcheck: for a user on a new machine or cluster, a pass/fail table of checks that the
// backends compute what the CPU reference computes and that the interconnect works:
//   - kernels: cpu-async against cpu, bit for bit (the same kernels run asynchronously), and cuda
//     against cpu within the agreement suite's tolerance (1e-5 of the output's largest magnitude in
//     fp32, 2^-6 in bf16, 2^-9 in fp16), on fixed random inputs at each precision: a Linear with its
//     GELU (gemm_bias_act), LayerNorm, softmax, and the sum of squares of the gradient norm;
//   - training: 20 AdamW steps of the default MLP on cpu-async (bit for bit) and on cuda against cpu
//     from the same seed and data; cuda (fp32, no TF32): the mean loss of the steps within 1e-4 and
//     the final parameters within 1e-3 of their L2 norm (each product agrees to ~1e-6; Adam's
//     normalised step turns a gradient near zero whose sign differs into a whole step of lr, whence
//     the looser bound on the parameters);
//   - NCCL allreduce bus bandwidth over every rank (under mpirun/srun, one rank per GPU).
// A check that needs a GPU says "skipped: no GPU" where none is usable. Exit 0 when nothing failed.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "app/commands.hpp"
#include "app/config.hpp"
#include "core/buffer.hpp"
#include "core/log.hpp"
#include "core/philox.hpp"
#include "data/generators.hpp"
#include "data/row_source.hpp"
#include "kernels/kernels.hpp"
#include "nn/model.hpp"
#include "parallel/comm_choice.hpp"
#include "parallel/world.hpp"
#include "train/trainer.hpp"

namespace hpct::app {
namespace {

using kernels::Backend;

struct Row {
  std::string check, result, detail;
};

// Every output of the ops below, as f32 (16-bit outputs widened exactly).
using Outputs = std::vector<std::vector<float>>;

// The ops on backend be at dtype t, on inputs drawn from Philox (the same on every backend): uploaded
// as f32 and cast on the device, outputs cast back to f32 on the device and read.
Outputs run_ops(Backend& be, DType t) {
  constexpr std::int64_t m = 64, k = 96, n = 80;
  Allocator& alloc = be.allocator();
  auto input = [&](Shape s, std::uint64_t stream) {
    std::vector<float> h(static_cast<std::size_t>(s.numel()));
    for (std::size_t i = 0; i < h.size(); ++i) h[i] = 2.0f * philox_uniform(2024, stream, i) - 1.0f;
    Buffer f(alloc, s, DType::f32), out(alloc, s, t);
    be.copy(f, Tensor(h.data(), s, DType::f32));
    be.cast(f, out);
    be.synchronize();  // h and f go out of scope
    return out;
  };
  auto output = [&](const Tensor& x) {
    Buffer f(alloc, x.shape, DType::f32);
    be.cast(x, f);
    return be.read<float>(f);
  };
  const Buffer a = input(Shape{m, k}, 1), b = input(Shape{k, n}, 2), bias = input(Shape{n}, 3);
  const Buffer gamma = input(Shape{n}, 4), beta = input(Shape{n}, 5);
  Buffer c(alloc, Shape{m, n}, t), y(alloc, Shape{m, n}, t), ln(alloc, Shape{m, n}, t), sm(alloc, Shape{m, n}, t);
  Buffer mean(alloc, Shape{m}, kernels::stats_dtype(t)), rstd(alloc, Shape{m}, kernels::stats_dtype(t));
  Buffer sumsq(alloc, Shape{1}, DType::f64);
  be.gemm_bias_act(a, false, b, false, bias, kernels::Activation::gelu_tanh, c, y);
  be.layernorm_forward(y, gamma, beta, ln, mean, rstd, 1e-5);
  be.softmax_forward(ln, sm);
  be.sum_squares(sm, sumsq);
  Outputs out = {output(c), output(y), output(ln), output(sm)};
  const std::vector<double> s = be.read<double>(sumsq);
  out.push_back({static_cast<float>(s[0])});
  return out;
}

// The largest difference between two runs' outputs relative to each output's largest |reference|.
double worst_relative(const Outputs& ref, const Outputs& got) {
  double worst = 0.0;
  for (std::size_t o = 0; o < ref.size(); ++o) {
    double scale = 0.0, diff = 0.0;
    for (std::size_t i = 0; i < ref[o].size(); ++i) {
      scale = std::max(scale, std::fabs(static_cast<double>(ref[o][i])));
      const double d = std::fabs(static_cast<double>(ref[o][i]) - got[o][i]);
      diff = std::isnan(d) ? INFINITY : std::max(diff, d);
    }
    worst = std::max(worst, diff / std::max(scale, 1e-30));
  }
  return worst;
}

double tolerance(DType t) {
  switch (t) {
    case DType::bf16: return 1.0 / 64.0;
    case DType::f16: return 1.0 / 512.0;
    default: return 1e-5;
  }
}

// kernels of device against cpu at each precision; exact: bit for bit.
void kernel_rows(const std::string& device, bool exact, std::vector<Row>& rows) {
  auto cpu = kernels::make_cpu_backend();
  auto be = kernels::make_backend(device);
  for (const DType t : {DType::f32, DType::bf16, DType::f16}) {
    Row r{cat("kernels ", device, " vs cpu, ", name_of(t)), "pass", ""};
    try {
      const double worst = worst_relative(run_ops(*cpu, t), run_ops(*be, t));
      const double allowed = exact ? 0.0 : tolerance(t);
      r.detail = cat("largest difference ", worst, " of the output scale (allowed ", allowed, ")");
      if (!(worst <= allowed)) r.result = "FAIL";
    } catch (const std::exception& e) {
      r.result = "FAIL";
      r.detail = e.what();
    }
    rows.push_back(r);
  }
}

// The training check's run on one backend: the mean loss of its steps and the final parameters.
struct ShortRun {
  double loss = 0.0;
  std::vector<float> params;
};

constexpr std::int64_t kTrainSteps = 20, kTrainBatch = 64;
constexpr double kTrainLossTolerance = 1e-4, kTrainParamTolerance = 1e-3;

// kTrainSteps steps (one epoch) of the default MLP (4 -> 64 x 3 GELU -> 1, MSE, AdamW lr 1e-3) on
// heteroscedastic data, fp32, one process, no validation.
ShortRun short_run(Backend& be) {
  data::GeneratorOptions g;
  g.n = kTrainSteps * kTrainBatch;
  g.seed = 7;
  const data::Dataset d = data::generate(g);
  const data::MemoryRows rows(d);
  nn::ModelSpec spec;
  spec.in_features = d.features;
  spec.out_features = d.targets;
  spec.targets = d.targets;
  auto model = nn::build_model(spec, be, 1);
  train::TrainOptions opt;
  opt.epochs = 1;
  opt.batch_size = kTrainBatch;
  opt.data_workers = 0;
  const bool quiet = std::exchange(log::settings().quiet, true);  // no epoch line in the table
  train::TrainSummary s;
  try {
    s = train::fit(be, *model, nn::LossKind::mse, {&d, &rows, nullptr, nullptr, nullptr}, opt);
  } catch (...) {
    log::settings().quiet = quiet;
    throw;
  }
  log::settings().quiet = quiet;
  HPCT_CHECK(s.steps == kTrainSteps, "selfcheck training: ", s.steps, " steps instead of ", kTrainSteps);
  return {s.train_loss, be.read<float>(model->params().flat_weights())};
}

// The short run of device against cpu; exact: bit for bit (cpu-async), else within the tolerances.
Row training_row(const std::string& device, bool exact) {
  Row r{cat("training ", device, " vs cpu, ", kTrainSteps, " steps"), "pass", ""};
  try {
    auto cpu = kernels::make_cpu_backend();
    auto be = kernels::make_backend(device);
    const ShortRun ref = short_run(*cpu), got = short_run(*be);
    double diff = 0.0, norm = 0.0;
    for (std::size_t i = 0; i < ref.params.size(); ++i) {
      const double d = static_cast<double>(got.params[i]) - ref.params[i];
      diff += d * d;
      norm += static_cast<double>(ref.params[i]) * ref.params[i];
    }
    const double dparams = std::sqrt(diff / std::max(norm, 1e-30));
    const double dloss = std::fabs(got.loss - ref.loss) / std::max(std::fabs(ref.loss), 1e-30);
    const double loss_allowed = exact ? 0.0 : kTrainLossTolerance, params_allowed = exact ? 0.0 : kTrainParamTolerance;
    r.detail = cat("loss ", got.loss, " vs ", ref.loss, " (relative difference ", dloss, ", allowed ", loss_allowed,
                   "), parameters differ by ", dparams, " of their norm (allowed ", params_allowed, ")");
    if (!(dloss <= loss_allowed && dparams <= params_allowed)) r.result = "FAIL";
  } catch (const std::exception& e) {
    r.result = "FAIL";
    r.detail = e.what();
  }
  return r;
}

// Bus bandwidth of an allreduce of 256 MiB over NCCL (NCCL's tests' definition: 2 (n - 1) / n times
// the bytes over the time, what each link carries).
Row nccl_row(dist::World& world) {
  Row r{"NCCL allreduce bus bandwidth, 256 MiB", "pass", ""};
  try {
    auto be = kernels::make_cuda_backend(kernels::local_rank_from_env());
    auto sub = world.comm().split(0, world.rank());
    auto nccl = dist::make_nccl_communicator(std::move(sub), world.rank());
    const std::int64_t elements = 64 << 20;
    Buffer buf(be->allocator(), Shape{elements}, DType::f32);
    be->fill(buf, 1.0);
    be->synchronize();
    nccl->allreduce(buf, dist::ReduceOp::sum)->wait_host();  // warm-up: NCCL's connections
    constexpr int reps = 5;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) nccl->allreduce(buf, dist::ReduceOp::average)->wait_host();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / reps;
    const double n = world.size(), bytes = static_cast<double>(elements) * 4.0;
    r.detail = cat(std::fixed, std::setprecision(1), 2.0 * (n - 1.0) / n * bytes / s / 1e9, " GB/s over ", n,
                   " ranks (", s * 1e3, " ms each)");
  } catch (const std::exception& e) {
    r.result = "FAIL";
    r.detail = e.what();
  }
  return r;
}

}  // namespace

int run_selfcheck(const Args& args) {
  Options o("selfcheck", "Check this machine: backends against the CPU reference, NCCL bandwidth (README: GPU runs)");
  const Config cfg = Config::parse(o, args);
  if (cfg.help()) {
    std::cout << o.help_text();
    return 0;
  }
  dist::World& world = dist::World::init(nullptr, nullptr);
  std::vector<Row> rows;
  kernel_rows("cpu-async", true, rows);
  rows.push_back(training_row("cpu-async", true));
  std::string why;
  const bool gpu = kernels::cuda_device_count(&why) > 0;
  if (gpu) {
    kernel_rows("cuda", false, rows);
    rows.push_back(training_row("cuda", false));
  } else {
    for (const DType t : {DType::f32, DType::bf16, DType::f16})
      rows.push_back({cat("kernels cuda vs cpu, ", name_of(t)), "skipped: no GPU", why});
    rows.push_back({cat("training cuda vs cpu, ", kTrainSteps, " steps"), "skipped: no GPU", why});
  }
  // Collective: every rank decides alike (a rank without a GPU would leave the others waiting), so
  // the ranks agree first.
  std::int32_t without_gpu = gpu ? 0 : 1;
  world.comm().allreduce(Tensor(&without_gpu, Shape{1}, DType::i32), dist::ReduceOp::sum)->wait_host();
  if (without_gpu > 0)
    rows.push_back({"NCCL allreduce bus bandwidth", "skipped: no GPU", cat(without_gpu, " rank(s) without a GPU")});
  else if (world.size() < 2)
    rows.push_back({"NCCL allreduce bus bandwidth", "skipped: one rank", "run under mpirun/srun, one rank per GPU"});
  else
    rows.push_back(nccl_row(world));

  std::int32_t failed = 0;
  for (const Row& r : rows) failed += r.result == "FAIL" ? 1 : 0;
  const std::int32_t mine = failed;
  world.comm().allreduce(Tensor(&failed, Shape{1}, DType::i32), dist::ReduceOp::sum)->wait_host();
  // Rank 0 prints its table; another rank's failures are printed by that rank.
  if (world.rank() == 0 || mine > 0) {
    std::size_t w = 5, wr = 6;
    for (const Row& r : rows) w = std::max(w, r.check.size()), wr = std::max(wr, r.result.size());
    std::ostringstream s;
    if (world.size() > 1) s << "rank " << world.rank() << " of " << world.size() << ":\n";
    s << std::left << std::setw(static_cast<int>(w)) << "check" << "  " << std::setw(static_cast<int>(wr)) << "result"
      << "  detail\n";
    for (const Row& r : rows)
      s << std::setw(static_cast<int>(w)) << r.check << "  " << std::setw(static_cast<int>(wr)) << r.result << "  "
        << r.detail << "\n";
    if (world.rank() == 0) s << (failed == 0 ? "selfcheck: all checks passed or skipped\n" : cat("selfcheck: ", failed, " check(s) FAILED\n"));
    std::cout << s.str() << std::flush;
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace hpct::app
