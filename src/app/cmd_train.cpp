// hpctrain train: read the data, split and standardise it, build the model, train, and leave in the
// run directory config.ini (the resolved options), metrics.csv, model.h5 (the final model) and
// checkpoints/ (periodic checkpoints, from which --resume continues bit for bit).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <filesystem>
#include <iomanip>
#include <memory>
#include <optional>
#include <fstream>
#include <iostream>
#include <sstream>

#include <unistd.h>

#include "app/commands.hpp"
#include "app/config.hpp"
#include "app/ensemble.hpp"
#include "app/run_files.hpp"
#include "app/setup.hpp"
#include "app/slurm_env.hpp"
#include "app/version.hpp"
#include "core/atomic_file.hpp"
#include "core/log.hpp"
#include "core/peak_rss.hpp"
#include "core/trace.hpp"
#include "core/stop_signal.hpp"
#include "data/dataset.hpp"
#include "parallel/comm_choice.hpp"
#include "parallel/world.hpp"
#include "kernels/kernels.hpp"
#include "nn/model.hpp"
#include "kernels/cpu/blas_kernel.hpp"
#include "optim/optimizer.hpp"
#include "train/bottleneck.hpp"
#include "train/checkpoint.hpp"
#include "train/events.hpp"
#include "train/model_io.hpp"
#include "train/standardize.hpp"
#include "train/trainer.hpp"

namespace hpct::app {
Options train_options() {
  Options o("train", "Train a model on an HDF5 data set (see README: data layout, checkpoint layout).");
  o.add("data.train", "data/heteroscedastic.h5", "training data (HDF5: /X [N, F], /y)")
      .add("data.val", "", "validation data file; when unset, a fraction of data.train is held out")
      .add("data.val-fraction", "0.2", "fraction of data.train held out for validation (0 = none)")
      .flag("data.standardize", true, "standardise features (and regression targets) on the training split")
      .flag("data.drop-last", false, "each epoch drops the rows after the last full global batch (batch-size x ranks) instead of padding the ranks' shares, so N ranks train exactly as one process with batch-size x N (README: Data-parallel training over MPI)")
      .flag("data.stream", false, "read training rows from the file batch by batch instead of loading it (each rank reads only its rows)")
      .add("data.workers", "1", "loader threads preparing the next batches while one trains (0 = none)")
      .add("model.type", "mlp", "mlp | transformer-tabular (features as tokens) | transformer (sequences) | lm (causal byte LM) | cnn1d (per-position residual CNN) | unet1d (per-position U-Net) | ssvae (semi-supervised VAE)")
      .add("model.widths", "64,64,64", "mlp: hidden layer widths, comma-separated")
      .add("model.activation", "auto", "relu | gelu (tanh approx.) | gelu-exact | tanh | silu; auto = gelu for mlp, gelu-exact (torch's) for transformers")
      .add("model.dropout", "0", "dropout probability (mlp: after each hidden activation; transformers: attention, residual, feed-forward)")
      .flag("model.layernorm", false, "mlp: LayerNorm after each hidden Linear")
      .add("model.latent", "16", "ssvae: latent dimensions of z")
      .add("model.recon", "bernoulli", "ssvae: reconstruction bernoulli (x in [0, 1]) | gaussian (unit variance)")
      .add("model.alpha", "10", "ssvae: weight of the classification loss on labelled rows")
      .add("model.d-model", "64", "transformers: width of every token")
      .add("model.heads", "4", "transformers: attention heads (must divide d-model)")
      .add("model.layers", "2", "transformers, cnn1d: blocks; unet1d: levels down and up")
      .add("model.mlp-ratio", "4", "transformers: feed-forward width / d-model")
      .add("model.max-length", "0", "transformer, lm: positions of the positional embedding (0 = the data's L)")
      .add("model.pooling", "mean", "transformer-tabular, transformer with per-row targets: mean | cls")
      .flag("model.causal", false, "transformer: causal attention (lm always is)")
      .add("model.channels", "64", "cnn1d, unet1d: channels of every position")
      .add("model.kernel-size", "5", "cnn1d, unet1d: convolution kernel size (odd)")
      .add("model.dilations", "1,2,4,8", "cnn1d: dilation of block i = dilations[i mod count]")
      .add("loss", "auto", "auto (by task) | mse | gaussian-nll | bce | ce")
      .add("optim.name", "adamw", "adamw | sgd")
      .add("optim.lr", "1e-3", "learning rate")
      .add("optim.weight-decay", "0", "decoupled weight decay (adamw) or L2 penalty (sgd)")
      .add("optim.beta1", "0.9", "adamw beta1")
      .add("optim.beta2", "0.999", "adamw beta2")
      .add("optim.eps", "1e-8", "adamw epsilon")
      .add("optim.momentum", "0.9", "sgd momentum")
      .flag("optim.nesterov", false, "sgd Nesterov momentum")
      .add("optim.clip-norm", "0", "clip gradients to this global L2 norm (0 = off)")
      .add("sched.name", "constant", "constant | cosine | step")
      .add("sched.warmup-steps", "0", "linear warm-up steps")
      .add("sched.min-lr", "0", "cosine: final learning rate")
      .add("sched.step-size", "0", "step: steps between decays")
      .add("sched.gamma", "0.1", "step: decay factor")
      .add("epochs", "20", "passes over the training data")
      .add("batch-size", "128", "samples per optimizer step")
      .add("eval-every", "1", "epochs between validations (the last epoch is always validated)")
      .add("seed", "1", "seed of initialisation, dropout and data order")
      .add("threads", "0", "threads per process (0 = cores of the node / processes on it)")
      .add("device", "auto", "cpu | cpu-async (every op on a worker thread, memory the host may not touch: a GPU's execution model) | cuda | auto (HPCTRAIN_DEVICE, else cuda when a GPU is usable, else cpu)")
      .add("gpu-ids", "", "cuda: GPUs to use, e.g. 0,2 (default: every visible one); rank uses ids[local rank % count]")
      .flag("allow-gpu-sharing", false, "cuda: let more ranks than GPUs on a node share them (else an error)")
      .add("precision", "fp32", "compute dtype of parameters, activations and gradients: fp32 | bf16 | fp16 (fp32 master weights, optimizer state and losses; fp16 adds dynamic loss scaling)")
      .flag("precision.tf32", false, "cuda: fp32 matrix products on TF32 tensor cores (inputs rounded to 10 mantissa bits, fp32 accumulation; several times faster, ~1e-3 relative error)")
      .add("precision.init-scale", "65536", "fp16: initial loss scale")
      .add("precision.growth-interval", "2000", "fp16: finite steps before the loss scale doubles")
      .add("log-every", "0", "steps between progress lines within an epoch (0 = epoch ends only)")
      .add("log.terminal", "auto", "progress as one updating line: on | off | auto (stdout is a terminal and no MPI launcher started this process: mpirun gives ranks a pseudo-terminal even when its own output goes to a file)")
      .add("trace", "", "write a Chrome trace-event timeline (Perfetto, chrome://tracing) of every rank to this JSON file (README: Finding why a run is slow)")
      .add("trace.steps", "", "trace only optimizer steps A:B (from A, before B; empty = all)")
      .add("log.interval-s", "30", "when stdout is not a terminal: seconds between progress lines within an epoch (0 = off)")
      .add("debug.overflow-step", "-1", "tests: at this optimizer step (0-based) write +Inf into a gradient, as an fp16 overflow (-1 = never)")
      .add("debug.overflow-rank", "0", "tests: the rank that injects the overflow")
      .add("debug.overflow-steps", "1", "tests: optimizer steps in a row that inject it, from debug.overflow-step on")
      .add("nan.max-consecutive", "1", "without fp16: a step with a non-finite loss or gradient is skipped; training stops after this many in a row (1 = at the first)")
      .flag("requeue", false, "after a stop by SIGTERM/SIGUSR1/SIGINT and its checkpoint, under SLURM: scontrol requeue $SLURM_JOB_ID (resume the next run with --resume auto)")
      .add("debug.stop-after-steps", "0", "tests: end (status 0) after this optimizer step and its checkpoint, without writing model.h5 (0 = off)")
      .add("checkpoint.every-steps", "0", "optimizer steps between checkpoints in RUN/checkpoints (0 = off; one is always written at the end)")
      .add("checkpoint.every-minutes", "0", "minutes between checkpoints, looked at at log points and epoch ends (0 = off)")
      .add("checkpoint.keep", "2", "newest checkpoints kept in RUN/checkpoints (0 = write none, not even the last)")
      .add("resume", "", "continue from the latest complete checkpoint of this run directory, which becomes --run-dir; auto: of --run-dir, or a fresh start when it has none (README: Checkpoints and resume)")
      .add("accum-steps", "1", "micro-batches per optimizer step (global batch = batch-size x ranks x this)")
      .add("ddp.bucket-mb", "25", "size of the gradient buckets reduced while backward runs")
      .flag("ddp.zero-copy", true, "ranks on one node reduce gradients in a shared-memory window, not through MPI_Allreduce copies")
      .add("ddp.hierarchical", "auto", "node-aware gradient reduction (shared memory inside a node, one rank per node across nodes): auto = when the ranks span nodes, on, off = flat MPI_Allreduce across nodes")
      .add("ddp.check-every", "0", "steps between checks that all ranks hold the same weights (0 = off)")
      .add("zero", "0", "ZeRO stage: 1 = shard the optimizer state (AdamW moments, SGD momentum) over the data-parallel ranks: gradients reduce-scattered, each rank updates its shard, parameters all-gathered (README: ZeRO-1); 0 = off")
      .add("dist.timeout-s", "600", "seconds any collective may take before the job ends with an error naming the rank and the operation (a peer that died or hangs)")
      .add("dist.backend", "auto", "communicator of the gradient collectives: auto (nccl with --device cuda on more than one rank, else mpi) | mpi | nccl (README: GPU runs)")
      .add("run-dir", "runs/default", "output directory: config.ini, metrics.csv, model.h5")
      .add("ensemble.members", "1", "ensemble members, each with its own seed, in RUN/member-XXX (README: Ensembles)")
      .flag("ensemble.bootstrap", false, "each run (ensemble member) trains on a bootstrap resample of all data.train rows, drawn with its seed; without data.val the rows it left out validate (out of bag; data.val-fraction not used) (README: Classifier intervals)")
      .flag("ensemble.bootstrap-pairs", false, "with --ensemble.bootstrap: members 2j and 2j+1 train on the same resample (predict --uq.calibrate pairs; README: Classifier intervals)")
      .add("ensemble.bootstrap-seed", "", "with --ensemble.bootstrap: the seed of the rows (the resample and so its out-of-bag rows; default: --seed); set per member by --ensemble.bootstrap-pairs")
      .flag("ensemble.resume", false, "skip members whose RUN/member-XXX/model.h5 is a complete checkpoint")
      .add("groups", "0", "groups of ranks training members at once (0 = the largest divisor of the ranks <= members)")
      .add("uq.levels", "0.68,0.95", "ensembles: interval levels in (0, 1) that predict writes by default")
      .add("init", "", "start from the parameters of this checkpoint (HDF5, see README)")
      .flag("quiet", false, "print only errors and the final line")
      .named_sections("models");  // [models.NAME] in --config: several models at once (README: Ensembles)
  return o;
}

namespace {

// The loss a task implies, and a check that an explicit one fits it.
nn::LossKind choose_loss(const std::string& option, data::Task task, const std::string& source) {
  if (option == "auto") {
    switch (task) {
      case data::Task::regression: return nn::LossKind::mse;
      case data::Task::binary: return nn::LossKind::bce;
      case data::Task::classification: return nn::LossKind::ce;
    }
  }
  const nn::LossKind k = nn::parse_loss(option);
  const bool fits = (k == nn::LossKind::mse || k == nn::LossKind::gaussian_nll) ? task == data::Task::regression
                    : k == nn::LossKind::bce                                    ? task == data::Task::binary
                                                                                : task == data::Task::classification;
  HPCT_CHECK(fits, "option --loss: ", option, " does not fit the ", data::to_string(task), " task of ", source);
  return k;
}

std::string metrics_line(const train::Metrics& m) {
  std::ostringstream os;
  os << std::setprecision(5);
  for (const auto& [name, value] : m) os << " " << name << "=" << value;
  return os.str();
}

// Options that may change when a run resumes: they change when or how long it trains, what it logs
// and where, not the arithmetic of a step (the device and TF32 change only its rounding: a GPU run may
// resume on a CPU). Every other option, and the world size, is part of the math a checkpoint is
// resumed under.
const std::set<std::string>& resumable_options() {
  static const std::set<std::string> names = {
      "epochs", "eval-every", "log-every", "log.interval-s", "log.terminal", "trace", "trace.steps", "checkpoint.every-steps", "checkpoint.every-minutes", "checkpoint.keep",
      "resume", "run-dir", "quiet", "threads", "device", "data.workers", "data.stream", "ddp.check-every", "init",
      "uq.levels", "ensemble.resume", "zero", "ensemble.members", "groups", "config", "debug.stop-after-steps", "requeue",
      "nan.max-consecutive", "debug.overflow-step", "debug.overflow-rank", "debug.overflow-steps", "precision.tf32"};
  return names;
}

// The options of an INI text (Config::to_ini) that change the math, by dotted name, and the world size.
std::map<std::string, std::string> math_options(const std::string& ini, int world) {
  std::map<std::string, std::string> out = ini_values(ini);
  std::erase_if(out, [](const auto& option) { return resumable_options().count(option.first) > 0; });
  if (world > 0) out["world-size"] = std::to_string(world);
  return out;
}

std::string math_text(const std::map<std::string, std::string>& m) {
  std::string text;
  for (const auto& [name, value] : m) text += name + " = " + value + "\n";
  return text;
}

// Refuses a checkpoint whose math differs from this run's, naming every option that differs.
void check_same_math(const std::string& saved, const std::map<std::string, std::string>& now, const std::string& path) {
  const std::map<std::string, std::string> then = math_options(saved, 0);
  std::string diff;
  auto value = [](const std::map<std::string, std::string>& m, const std::string& k) {
    const auto it = m.find(k);
    return it == m.end() ? std::string("(unset)") : it->second;
  };
  std::set<std::string> names;
  for (const auto& m : {then, now})
    for (const auto& [k, v] : m) names.insert(k);
  for (const std::string& k : names)
    if (value(then, k) != value(now, k))
      diff += cat(diff.empty() ? "" : ", ", k == "world-size" ? "the world size" : "--" + k, " (checkpoint ",
                  value(then, k), ", now ", value(now, k), ")");
  HPCT_CHECK(diff.empty(), path, ": cannot resume, options that change the math differ: ", diff,
             " (README: Checkpoints and resume)");
}

// --trace.steps A:B (empty: every step).
struct TraceRange {
  std::int64_t first = 0, end = -1;
};
TraceRange parse_trace_steps(const std::string& text) {
  if (text.empty()) return {};
  const auto colon = text.find(':');
  TraceRange r;
  try {
    HPCT_CHECK(colon != std::string::npos, "no colon");
    std::size_t used = 0;
    r.first = std::stoll(text.substr(0, colon), &used);
    HPCT_CHECK(used == colon, "trailing text");
    r.end = std::stoll(text.substr(colon + 1), &used);
    HPCT_CHECK(used == text.size() - colon - 1, "trailing text");
  } catch (const std::exception&) {
    fail("option --trace.steps: expected A:B (optimizer steps, from A, before B), got '", text, "'");
  }
  HPCT_CHECK(r.first >= 0 && r.end > r.first, "option --trace.steps: need 0 <= A < B, got '", text, "'");
  return r;
}

// Every rank writes its events next to the file, rank 0 merges them into it (temp + rename) and
// removes the parts; the ranks share the file system (a run directory does too).
void write_trace(const std::string& path, dist::Communicator& comm, dist::Communicator* barrier) {
  auto part = [&](int r) { return cat(path, ".rank-", r, ".part"); };
  write_text_atomic(part(comm.rank()), trace::events_json());
  if (comm.size() > 1) barrier->barrier()->wait_host();
  if (comm.rank() != 0) return;
  std::vector<std::string> parts;
  for (int r = 0; r < comm.size(); ++r) {
    std::ifstream in(part(r));
    HPCT_CHECK(in, part(r), ": cannot read rank ", r, "'s trace part");
    parts.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  write_text_atomic(path, trace::merge(parts));
  for (int r = 0; r < comm.size(); ++r) std::filesystem::remove(part(r));
}

// Whether progress is one updating line (--log.terminal).
bool progress_on_terminal(const std::string& option) {
  if (option == "on") return true;
  if (option == "off") return false;
  HPCT_CHECK(option == "auto", "option --log.terminal: must be on, off or auto, got '", option, "'");
  // Under a launcher, ranks see a pseudo-terminal even when the job's output is a file.
  if (dist::launched_by_mpi() || std::getenv("SLURM_PROCID")) return false;
  return ::isatty(1) == 1;
}

// A run that failed leaves what makes it resumable (checkpoints, metrics rows) and its logs (train.log,
// events.jsonl ending in the error), nothing else of its own: an empty checkpoints/ and a run directory
// it created and left empty are removed (README: Checkpoints and resume). metrics.csv exists only from
// its first row on (the trainer's MetricsCsv), so no failure, on whichever rank, leaves it empty.
void remove_if_nothing_to_resume(const std::filesystem::path& run_dir, bool existed) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(run_dir / "checkpoints", ec) && fs::is_empty(run_dir / "checkpoints", ec))
    fs::remove(run_dir / "checkpoints", ec);
  if (!existed && fs::is_directory(run_dir, ec) && fs::is_empty(run_dir, ec)) fs::remove(run_dir, ec);
}

}  // namespace

int run_train(const Args& args) {
  // MPI first, so that every error, bad options included, names its rank and ends the whole job.
  dist::World& world = dist::World::init(nullptr, nullptr);
  const Options options = train_options();
  const Config cfg = Config::parse(options, args);
  if (cfg.help()) {
    std::cout << options.help_text();
    return 0;
  }
  const double timeout_s = cfg.real("dist.timeout-s");
  HPCT_CHECK(timeout_s > 0 && timeout_s <= 1e7, "option dist.timeout-s: must be in (0, 1e7], got ", timeout_s);
  world.comm().set_timeout(std::chrono::milliseconds(static_cast<std::int64_t>(timeout_s * 1000.0)));
  const std::string hier = cfg.str("ddp.hierarchical");
  HPCT_CHECK(hier == "auto" || hier == "on" || hier == "off", "option ddp.hierarchical: auto, on or off, got '", hier, "'");
  world.comm().set_hierarchy(hier == "on" ? dist::Hierarchy::on : hier == "off" ? dist::Hierarchy::off : dist::Hierarchy::automatic);
  install_stop_signals();
  int status = 0;
  if (is_group_run(cfg)) {
    HPCT_CHECK(!cfg.is_set("trace"), "option --trace: traces one model's run, not an ensemble or several models");
    HPCT_CHECK(cfg.str("resume").empty() || cfg.str("resume") == "auto",
               "option --resume: an ensemble resumes with --resume auto (each member from its RUN/member-XXX)");
    status = run_ensemble(cfg, world);
  } else {
    status = train_model(cfg, world.comm());
  }
  if (status == kExitStopped && cfg.boolean("requeue") && world.rank() == 0) requeue_slurm_job();
  return status;
}

int train_model(const Config& given, dist::Communicator& comm, train::TrainSummary* summary) {
  // --resume RUN continues in RUN; --resume auto in --run-dir.
  const std::string resume = given.str("resume");
  const Config cfg = resume.empty() || resume == "auto" ? given : given.with("run-dir", resume);
  const bool root = comm.rank() == 0;
  log::settings().quiet = cfg.boolean("quiet") || !root;
  auto backend = make_backend(cfg);
  const std::uint64_t seed = cfg.unsigned_integer("seed");

  // Data: training split, validation split (held out or from its own file), standardisation. With
  // --ensemble.bootstrap the training rows are a resample of all rows and the rows it left out validate
  // (load_train_val); the resample follows ensemble.bootstrap-seed when set (bootstrap pairs: two
  // members on the same rows, differing only in the seed of their weights and batch order).
  const bool bootstrap = cfg.boolean("ensemble.bootstrap");
  const bool paired = bootstrap && !cfg.str("ensemble.bootstrap-seed").empty();
  const std::uint64_t rows_seed = paired ? cfg.unsigned_integer("ensemble.bootstrap-seed") : seed;
  const SplitData split = load_train_val(cfg.str("data.train"), cfg.str("data.val"), cfg.real("data.val-fraction"),
                                         rows_seed, cfg.boolean("data.stream"), comm.size(), comm.rank(), bootstrap);
  data::Dataset train = split.train;
  data::Dataset val = split.val;
  const data::Dataset& val_truth = split.val_truth;  // original units, for metrics
  const bool standardize = cfg.boolean("data.standardize");
  const train::Standardization standardization =
      split.train_x ? train::fit_standardization(train, *split.train_x, &comm, standardize)
                    : train::fit_standardization(train, standardize);
  train::apply_standardization(standardization, train);
  train::apply_standardization(standardization, val);
  if (split.train_x && !standardization.x_mean.empty())
    split.train_x->set_transform(
        [&standardization](float* x, std::int64_t rows) { train::standardize_features(standardization, x, rows); });

  // Model.
  const nn::LossKind loss = choose_loss(cfg.str("loss"), train.task, train.source);
  const nn::ModelSpec spec = model_spec_from_options(cfg, loss, train, val_truth);
  const DType precision = parse_precision(cfg.str("precision"));
  auto model = nn::build_model(spec, *backend, seed, precision);
  if (cfg.is_set("init")) {
    const train::CheckpointData init = train::load_checkpoint(cfg.str("init"));
    // The checkpoint's own model must fit the data too (e.g. token ids beyond its vocabulary).
    check_model_fits_data(train::spec_from_attrs(init.model, cfg.str("init")), train, cfg.str("init"));
    train::load_parameters(*backend, *model, init.params, cfg.str("init"));
  }
  // Resume: every rank reads the checkpoint (the newest that verifies) and checks its math.
  const std::string config_text = cfg.to_ini();
  const std::map<std::string, std::string> math = math_options(config_text, comm.size());
  std::optional<train::LoadedCheckpoint> resumed;
  if (!resume.empty()) {
    resumed = train::load_latest_checkpoint(cfg.str("run-dir"));
    HPCT_CHECK(resumed || resume == "auto", "option --resume: ", resume, " has no complete checkpoint in ",
               train::checkpoints_dir(resume));
    if (resumed) {
      check_same_math(resumed->data.resume->math, math, resumed->path);
      train::load_parameters(*backend, *model, resumed->data.params, resumed->path);
    }
  }

  train::TrainOptions opt;
  opt.epochs = cfg.integer("epochs");
  opt.batch_size = cfg.integer("batch-size");
  opt.eval_every = cfg.integer("eval-every");
  opt.seed = seed;
  opt.clip_norm = cfg.real("optim.clip-norm");
  opt.optim = {cfg.str("optim.name"), cfg.real("optim.lr"), cfg.real("optim.weight-decay"),
               cfg.real("optim.beta1"), cfg.real("optim.beta2"), cfg.real("optim.eps"),
               cfg.real("optim.momentum"), cfg.boolean("optim.nesterov")};
  // The data-parallel collectives over NCCL on a CUDA device (README: GPU runs). Every rank must choose
  // the same (with --device auto one node may lack GPUs), so the choice is agreed on first.
  const bool want_nccl = dist::choose_comm_backend(cfg.str("dist.backend"), backend->device().kind, comm.size(),
                                                   dist::nccl_built()) == dist::CommBackend::nccl;
  std::unique_ptr<dist::Communicator> nccl;
  if (comm.size() > 1) {
    std::int32_t votes[2] = {want_nccl ? 1 : 0, want_nccl ? 0 : 1};
    comm.allreduce(Tensor(votes, Shape{2}, DType::i32), dist::ReduceOp::sum)->wait_host();
    HPCT_CHECK(votes[0] == 0 || votes[1] == 0, "option --dist.backend: ", votes[0], " rank(s) chose nccl and ",
               votes[1], " mpi (ranks on different devices? set --device and --dist.backend explicitly)");
    if (want_nccl) {
      std::unique_ptr<dist::Communicator> sub = comm.split(0, comm.rank());
      sub->set_timeout(comm.timeout());
      nccl = dist::make_nccl_communicator(std::move(sub), dist::World::get().rank());
      log::info("data-parallel collectives: NCCL");
    }
  }
  opt.comm = nccl ? nccl.get() : &comm;
  // Host-side agreement (evaluation sums, the epoch loss) on a communicator of its own, so it never
  // queues behind the gradient buckets of the data communicator (collective: every rank splits).
  const std::unique_ptr<dist::Communicator> host_comm = comm.size() > 1 ? comm.split(0, comm.rank()) : nullptr;
  opt.host_comm = host_comm.get();
  opt.accum_steps = cfg.integer("accum-steps");
  opt.drop_last = cfg.boolean("data.drop-last");
  HPCT_CHECK(!opt.drop_last || (opt.batch_size > 0 && train.n >= opt.batch_size * comm.size()),
             "option --data.drop-last: ", train.n, " training rows make no full global batch of ", opt.batch_size,
             " x ", comm.size(), " ranks");
  opt.ddp.bucket_mb = cfg.real("ddp.bucket-mb");
  opt.ddp.zero_copy = cfg.boolean("ddp.zero-copy");
  opt.check_every = cfg.integer("ddp.check-every");
  opt.zero = static_cast<int>(cfg.integer("zero"));
  opt.data_workers = static_cast<int>(cfg.integer("data.workers"));
  opt.log_every = cfg.integer("log-every");
  opt.progress.enabled = root;
  opt.progress.terminal = progress_on_terminal(cfg.str("log.terminal"));
  opt.progress.log_every = opt.log_every;
  opt.progress.interval_s = opt.progress.terminal ? 0.0 : cfg.real("log.interval-s");
  HPCT_CHECK(cfg.real("log.interval-s") >= 0, "option --log.interval-s: must be >= 0, got ", cfg.real("log.interval-s"));
  opt.overflow_step = cfg.integer("debug.overflow-step");
  opt.overflow_rank = static_cast<int>(cfg.integer("debug.overflow-rank"));
  opt.overflow_steps = cfg.integer("debug.overflow-steps");
  opt.nan_max_consecutive = cfg.integer("nan.max-consecutive");
  HPCT_CHECK(opt.nan_max_consecutive >= 1, "option --nan.max-consecutive: must be >= 1, got ", opt.nan_max_consecutive);
  opt.stop_signal = &install_stop_signals();
  opt.scaler.dynamic = precision == DType::f16;
  opt.scaler.init_scale = cfg.real("precision.init-scale");
  opt.scaler.interval = cfg.integer("precision.growth-interval");
  opt.sched = {cfg.str("sched.name"), cfg.integer("sched.warmup-steps"), cfg.real("sched.min-lr"),
               cfg.integer("sched.step-size"), cfg.real("sched.gamma")};
  opt.checkpoints.every_steps = cfg.integer("checkpoint.every-steps");
  opt.checkpoints.every_minutes = cfg.real("checkpoint.every-minutes");
  opt.checkpoints.stop_after_steps = cfg.integer("debug.stop-after-steps");
  const std::int64_t keep = cfg.integer("checkpoint.keep");
  HPCT_CHECK(opt.checkpoints.every_steps >= 0, "option --checkpoint.every-steps: must be >= 0, got ",
             opt.checkpoints.every_steps);
  HPCT_CHECK(opt.checkpoints.every_minutes >= 0, "option --checkpoint.every-minutes: must be >= 0, got ",
             opt.checkpoints.every_minutes);
  HPCT_CHECK(keep >= 0, "option --checkpoint.keep: must be >= 0, got ", keep);
  if (resumed) opt.resume = &*resumed->data.resume;

  // Every option is checked before the run directory is touched; config.ini and model.h5 are replaced
  // only by a run that completes, metrics.csv grows row by row (README: Checkpoints and resume).
  train::check_train_options(opt);
  optim::check_optimizer_options(opt.optim);
  const TraceRange trace_range = parse_trace_steps(cfg.str("trace.steps"));
  const std::filesystem::path run_dir = cfg.str("run-dir");
  std::error_code ec;
  const bool run_dir_existed = std::filesystem::exists(run_dir, ec);
  std::filesystem::create_directories(run_dir, ec);
  HPCT_CHECK(!ec, "option --run-dir: cannot create ", run_dir.string(), ": ", ec.message());
  opt.metrics_csv = (run_dir / "metrics.csv").string();
  // Rank 0 of the model keeps RUN/train.log (what it prints) and RUN/events.jsonl (README: Watching a run).
  std::unique_ptr<train::EventLog> events;
  struct LogFiles {  // closes them when this model is done (an ensemble trains several in turn)
    ~LogFiles() {
      log::settings().on_warning = nullptr;
      log::set_file("");
    }
  } log_files;
  if (root) {
    log::set_file((run_dir / "train.log").string());
    events = std::make_unique<train::EventLog>((run_dir / "events.jsonl").string());
    log::settings().on_warning = [e = events.get()](const std::string& m) { e->write("warning", JsonObject().add("message", m)); };
  }
  opt.events = events.get();
  if (const std::string note = device_fallback_note(cfg); !note.empty()) log::info(note);
  if (resumed) {
    log::info(cat("resuming from ", resumed->path, ": epoch ", opt.resume->state.epoch, ", micro-batch ",
                  opt.resume->state.micro, ", step ", opt.resume->state.step));
    if (root) train::drop_checkpoints_after(run_dir.string(), opt.resume->state.step);
  } else if (resume == "auto") {
    log::info(cat("--resume auto: no checkpoint in ", train::checkpoints_dir(run_dir.string()), ", a fresh start"));
  }
  // A checkpoint is the final model's layout plus the training part the trainer fills in.
  const std::map<std::string, train::AttrValue> model_attrs = train::spec_to_attrs(spec);
  if (keep > 0)
    opt.checkpoints.write = [&](train::CheckpointData& c) {
      c.config = config_text;
      c.epoch = c.resume->state.epoch - 1;
      c.step = c.resume->state.step;
      c.model = model_attrs;
      c.standardization = standardization;
      c.resume->math = math_text(math);
      const std::string path = train::save_periodic_checkpoint(run_dir.string(), c, keep);
      log::info(cat("checkpoint ", path));
      if (events) events->write("checkpoint", JsonObject().add("path", path).add("epoch", c.epoch).add("step", c.step));
    };

  log::info(cat("# hpctrain train: resolved configuration (saved at the end in ", (run_dir / "config.ini").string(), ")"));
  log::info(config_text);
  log::info(cat("backend ", backend->name(), ", ", backend->threads(), " thread(s), precision ", cfg.str("precision"),
                ", BLAS kernels ", kernels::blas_core(), " (CPU: ", kernels::cpu_vector_features(), ")",
                "; data ", train.source, ": ",
                train.n, " training rows", split.train_x ? " (streamed)" : "", ", ", val_truth.n, " validation rows, ", train.features, " features, task ",
                data::to_string(train.task), ", loss ", spec.loss));
  // Under SLURM: the job line, launch and thread warnings, RUN/slurm.txt.
  report_slurm_job(run_dir.string(), backend->threads(), dist::World::get().size(), root);
  log::info(cat(model->describe(), " | ", model->params().count(), " parameters"));
  const dist::Topology& topo = dist::World::get().topology();
  log::info(cat("topology: ", topo.nodes, " node(s), ", topo.local_size, " rank(s) on this node, ", topo.size,
                " rank(s) in all, ", backend->threads(), " thread(s) per rank, backend ", backend->name(),
                "; global batch ", opt.batch_size, " x ", comm.size(), " ranks x ", opt.accum_steps, " accumulation = ",
                opt.batch_size * comm.size() * opt.accum_steps));

  if (events)
    events->write("start", JsonObject()
                               .add("config", config_text)
                               .add("run_dir", run_dir.string())
                               .add("resumed_from", resumed ? resumed->path : std::string())
                               .add("model", model->describe())
                               .add("parameters", model->params().count())
                               .add("train_rows", train.n)
                               .add("val_rows", val_truth.n)
                               .add("topology", JsonObject()
                                                    .add("nodes", topo.nodes)
                                                    .add("ranks", comm.size())
                                                    .add("world_ranks", topo.size)
                                                    .add("ranks_on_node", topo.local_size)
                                                    .add("threads_per_rank", backend->threads())
                                                    .add("backend", backend->name())
                                                    .add("global_batch", opt.batch_size * comm.size() * opt.accum_steps))
                               .add("versions", version_text()));
  if (!cfg.str("trace").empty()) {
    trace::name_thread("compute");
    trace::configure(comm.rank(), trace_range.first, trace_range.end);
  }
  train::TrainSummary s;
  try {
    s = train::fit(*backend, *model, loss, {&train, split.train_x.get(), &val, &val_truth, &standardization}, opt);
  } catch (const std::exception& e) {
    if (events) events->write("failed", JsonObject().add("error", e.what()));
    if (root) remove_if_nothing_to_resume(run_dir, run_dir_existed);
    throw;
  } catch (...) {
    if (root) remove_if_nothing_to_resume(run_dir, run_dir_existed);
    throw;
  }

  if (!cfg.str("trace").empty()) {
    trace::stop();
    write_trace(cfg.str("trace"), comm, host_comm ? host_comm.get() : &comm);
    log::info(cat("trace ", cfg.str("trace"), " (", trace::event_count(), " events on rank 0; open in https://ui.perfetto.dev)"));
  }
  const train::PhaseTimes& t = s.phases;
  auto share = [&](double v) { return cat(std::setprecision(3), v, " s (", std::setprecision(2), 100.0 * v / std::max(t.total(), 1e-12), "%)"); };
  log::info(cat("time per phase on rank 0: data ", share(t.data), ", forward ", share(t.forward), ", backward ",
                share(t.backward), ", communication wait ", share(t.comm_wait), ", optimizer ", share(t.optimizer),
                "; host syncs per step ", std::setprecision(2), s.host_syncs_per_step, " (last epoch)"));
  const std::vector<std::string> limits = train::limiting_factors(t, comm.size());
  for (const std::string& l : limits) log::info("limits: " + l);
  auto summary_event = [&](const std::string& status, const std::string& model_path) {
    if (!events) return;
    JsonObject m, ph;
    for (const auto& [name, value] : s.val_metrics) m.add(name, value);
    ph.add("data", t.data).add("forward", t.forward).add("backward", t.backward).add("comm_wait", t.comm_wait)
        .add("optimizer", t.optimizer);
    std::string joined;
    for (const std::string& l : limits) joined += (joined.empty() ? "" : "; ") + l;
    events->write("end", JsonObject()
                             .add("status", status)
                             .add("epochs", s.epochs)
                             .add("steps", s.steps)
                             .add("train_loss", s.train_loss)
                             .add("val_loss", s.val_loss)
                             .add("val_metrics", m)
                             .add("samples_per_s", s.samples_per_s)
                             .add("tokens_per_s", s.tokens_per_s)
                             .add("seconds", s.seconds)
                             .add("peak_rss_mib", peak_rss_mib())
                             .add("phases", ph)
                             .add("limits", joined)
                             .add("model", model_path));
  };
  if (summary) *summary = s;
  if (s.stopped && s.stop_signal) {
    if (root)
      log::warn(cat("stopped by ", signal_name(s.stop_signal), " after step ", s.steps,
                       keep > 0 ? ", checkpoint written" : " (--checkpoint.keep 0: no checkpoint)", "; resume with --resume ",
                       run_dir.string(), " (exit status ", kExitStopped, ")"));
    summary_event("stopped", "");
    return kExitStopped;
  }
  if (s.stopped) {
    log::info(cat("stopped after step ", s.steps, " (--debug.stop-after-steps); resume with --resume ", run_dir.string()));
    summary_event("stopped", "");
    return 0;
  }
  if (!root) return 0;  // rank 0 writes the checkpoint and reports

  train::CheckpointData ckpt;
  ckpt.config = config_text;
  ckpt.epoch = s.epochs;
  ckpt.step = s.steps;
  ckpt.model = model_attrs;
  ckpt.params = train::parameters_to_host(*backend, *model);
  ckpt.standardization = standardization;
  const std::string model_path = (run_dir / "model.h5").string();
  train::save_checkpoint(model_path, ckpt);
  write_text_atomic((run_dir / "config.ini").string(), config_text);
  events->write("checkpoint", JsonObject().add("path", model_path).add("epoch", s.epochs).add("step", s.steps).add("final", true));

  std::ostringstream final_line;
  final_line << std::setprecision(5) << "final: epochs=" << s.epochs << " steps=" << s.steps
             << " train_loss=" << s.train_loss;
  if (val_truth.n) final_line << " val_loss=" << s.val_loss << metrics_line(s.val_metrics);
  final_line << std::fixed << std::setprecision(0) << " | " << s.samples_per_s << " samples/s";
  if (s.tokens_per_s > 0) final_line << " (" << s.tokens_per_s << " tokens/s)";
  final_line << " | peak RSS " << peak_rss_mib() << " MiB | model "
             << model_path;
  log::always(final_line.str());
  summary_event("finished", model_path);
  return 0;
}

}  // namespace hpct::app
