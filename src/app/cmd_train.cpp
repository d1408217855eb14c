// hpctrain train: read the data, split and standardise it, build the model, train, and leave in the
// run directory config.ini (the resolved options), metrics.csv, model.h5 (the final model) and
// checkpoints/ (periodic checkpoints, from which --resume continues bit for bit).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <set>
#include <filesystem>
#include <iomanip>
#include <memory>
#include <optional>
#include <iostream>
#include <sstream>

#include "app/commands.hpp"
#include "app/config.hpp"
#include "app/ensemble.hpp"
#include "app/setup.hpp"
#include "app/slurm_env.hpp"
#include "core/atomic_file.hpp"
#include "core/log.hpp"
#include "data/dataset.hpp"
#include "parallel/world.hpp"
#include "kernels/kernels.hpp"
#include "nn/model.hpp"
#include "kernels/cpu/blas_kernel.hpp"
#include "optim/optimizer.hpp"
#include "train/checkpoint.hpp"
#include "train/model_io.hpp"
#include "train/standardize.hpp"
#include "train/trainer.hpp"

namespace hpct::app {
namespace {

Options train_options() {
  Options o("train", "Train a model on an HDF5 data set (see README: data layout, checkpoint layout).");
  o.add("data.train", "data/heteroscedastic.h5", "training data (HDF5: /X [N, F], /y)")
      .add("data.val", "", "validation data file; when unset, a fraction of data.train is held out")
      .add("data.val-fraction", "0.2", "fraction of data.train held out for validation (0 = none)")
      .flag("data.standardize", true, "standardise features (and regression targets) on the training split")
      .flag("data.stream", false, "read training rows from the file batch by batch instead of loading it (each rank reads only its rows)")
      .add("data.workers", "1", "loader threads preparing the next batches while one trains (0 = none)")
      .add("model.type", "mlp", "mlp | transformer-tabular (features as tokens) | transformer (sequences) | lm (causal byte LM) | ssvae (semi-supervised VAE)")
      .add("model.widths", "64,64,64", "mlp: hidden layer widths, comma-separated")
      .add("model.activation", "auto", "relu | gelu (tanh approx.) | gelu-exact | tanh | silu; auto = gelu for mlp, gelu-exact (torch's) for transformers")
      .add("model.dropout", "0", "dropout probability (mlp: after each hidden activation; transformers: attention, residual, feed-forward)")
      .flag("model.layernorm", false, "mlp: LayerNorm after each hidden Linear")
      .add("model.latent", "16", "ssvae: latent dimensions of z")
      .add("model.recon", "bernoulli", "ssvae: reconstruction bernoulli (x in [0, 1]) | gaussian (unit variance)")
      .add("model.alpha", "10", "ssvae: weight of the classification loss on labelled rows")
      .add("model.d-model", "64", "transformers: width of every token")
      .add("model.heads", "4", "transformers: attention heads (must divide d-model)")
      .add("model.layers", "2", "transformers: blocks")
      .add("model.mlp-ratio", "4", "transformers: feed-forward width / d-model")
      .add("model.max-length", "0", "transformer, lm: positions of the positional embedding (0 = the data's L)")
      .add("model.pooling", "mean", "transformer-tabular, transformer with per-row targets: mean | cls")
      .flag("model.causal", false, "transformer: causal attention (lm always is)")
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
      .add("device", "auto", "cpu | cpu-async (every op on a worker thread, memory the host may not touch: a GPU's execution model) | auto (HPCTRAIN_DEVICE, else cpu)")
      .add("precision", "fp32", "compute dtype of parameters, activations and gradients: fp32 | bf16 | fp16 (fp32 master weights, optimizer state and losses; fp16 adds dynamic loss scaling)")
      .add("precision.init-scale", "65536", "fp16: initial loss scale")
      .add("precision.growth-interval", "2000", "fp16: finite steps before the loss scale doubles")
      .add("log-every", "0", "steps between progress lines within an epoch (0 = epoch ends only)")
      .add("debug.overflow-step", "-1", "tests: at this optimizer step (0-based) write +Inf into a gradient, as an fp16 overflow (-1 = never)")
      .add("debug.overflow-rank", "0", "tests: the rank that injects the overflow")
      .add("debug.stop-after-steps", "0", "tests: end (status 0) after this optimizer step and its checkpoint, without writing model.h5 (0 = off)")
      .add("checkpoint.every-steps", "0", "optimizer steps between checkpoints in RUN/checkpoints (0 = off; one is always written at the end)")
      .add("checkpoint.every-minutes", "0", "minutes between checkpoints, looked at at log points and epoch ends (0 = off)")
      .add("checkpoint.keep", "2", "newest checkpoints kept in RUN/checkpoints (0 = write none, not even the last)")
      .add("resume", "", "continue from the latest complete checkpoint of this run directory, which becomes --run-dir; auto: of --run-dir, or a fresh start when it has none (README: Checkpoints and resume)")
      .add("accum-steps", "1", "micro-batches per optimizer step (global batch = batch-size x ranks x this)")
      .add("ddp.bucket-mb", "25", "size of the gradient buckets reduced while backward runs")
      .flag("ddp.zero-copy", true, "ranks on one node reduce gradients in a shared-memory window, not through MPI_Allreduce copies")
      .add("ddp.check-every", "0", "steps between checks that all ranks hold the same weights (0 = off)")
      .add("dist.timeout-s", "600", "seconds any collective may take before the job ends with an error naming the rank and the operation (a peer that died or hangs)")
      .add("run-dir", "runs/default", "output directory: config.ini, metrics.csv, model.h5")
      .add("ensemble.members", "1", "ensemble members, each with its own seed, in RUN/member-XXX (README: Ensembles)")
      .flag("ensemble.resume", false, "skip members whose RUN/member-XXX/model.h5 is a complete checkpoint")
      .add("groups", "0", "groups of ranks training members at once (0 = the largest divisor of the ranks <= members)")
      .add("uq.levels", "0.68,0.95", "ensembles: interval levels in (0, 1) that predict writes by default")
      .add("init", "", "start from the parameters of this checkpoint (HDF5, see README)")
      .flag("quiet", false, "print only errors and the final line")
      .named_sections("models");  // [models.NAME] in --config: several models at once (README: Ensembles)
  return o;
}

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
// and where, not the arithmetic of a step. Every other option, and the world size, is part of the
// math a checkpoint is resumed under.
const std::set<std::string>& resumable_options() {
  static const std::set<std::string> names = {
      "epochs", "eval-every", "log-every", "checkpoint.every-steps", "checkpoint.every-minutes", "checkpoint.keep",
      "resume", "run-dir", "quiet", "threads", "device", "data.workers", "data.stream", "ddp.check-every", "init",
      "uq.levels", "ensemble.resume", "ensemble.members", "groups", "config", "debug.stop-after-steps"};
  return names;
}

// The options of an INI text (Config::to_ini) that change the math, by dotted name, and the world size.
std::map<std::string, std::string> math_options(const std::string& ini, int world) {
  std::map<std::string, std::string> out;
  std::istringstream in(ini);
  std::string section;
  for (std::string line; std::getline(in, line);) {
    if (line.size() > 2 && line.front() == '[' && line.back() == ']') {
      section = line.substr(1, line.size() - 2) + ".";
      continue;
    }
    const auto eq = line.find(" = ");
    if (eq == std::string::npos) continue;
    const std::string name = section + line.substr(0, eq);
    if (!resumable_options().count(name)) out[name] = line.substr(eq + 3);
  }
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
  if (is_group_run(cfg)) {
    HPCT_CHECK(cfg.str("resume").empty() || cfg.str("resume") == "auto",
               "option --resume: an ensemble resumes with --resume auto (each member from its RUN/member-XXX)");
    return run_ensemble(cfg, world);
  }
  return train_model(cfg, world.comm());
}

int train_model(const Config& given, dist::Communicator& comm, train::TrainSummary* summary) {
  // --resume RUN continues in RUN; --resume auto in --run-dir.
  const std::string resume = given.str("resume");
  const Config cfg = resume.empty() || resume == "auto" ? given : given.with("run-dir", resume);
  const bool root = comm.rank() == 0;
  log::settings().quiet = cfg.boolean("quiet") || !root;
  auto backend = make_backend(cfg);
  const std::uint64_t seed = cfg.unsigned_integer("seed");

  // Data: training split, validation split (held out or from its own file), standardisation.
  const SplitData split = load_train_val(cfg.str("data.train"), cfg.str("data.val"), cfg.real("data.val-fraction"),
                                         seed, cfg.boolean("data.stream"), comm.size(), comm.rank());
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
  opt.comm = &comm;
  // Host-side agreement (evaluation sums, the epoch loss) on a communicator of its own, so it never
  // queues behind the gradient buckets of the data communicator (collective: every rank splits).
  const std::unique_ptr<dist::Communicator> host_comm = comm.size() > 1 ? comm.split(0, comm.rank()) : nullptr;
  opt.host_comm = host_comm.get();
  opt.accum_steps = cfg.integer("accum-steps");
  opt.ddp.bucket_mb = cfg.real("ddp.bucket-mb");
  opt.ddp.zero_copy = cfg.boolean("ddp.zero-copy");
  opt.check_every = cfg.integer("ddp.check-every");
  opt.data_workers = static_cast<int>(cfg.integer("data.workers"));
  opt.log_every = cfg.integer("log-every");
  opt.overflow_step = cfg.integer("debug.overflow-step");
  opt.overflow_rank = static_cast<int>(cfg.integer("debug.overflow-rank"));
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
  const std::filesystem::path run_dir = cfg.str("run-dir");
  std::error_code ec;
  std::filesystem::create_directories(run_dir, ec);
  HPCT_CHECK(!ec, "option --run-dir: cannot create ", run_dir.string(), ": ", ec.message());
  opt.metrics_csv = (run_dir / "metrics.csv").string();
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
      log::info(cat("checkpoint ", train::save_periodic_checkpoint(run_dir.string(), c, keep)));
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

  const train::TrainSummary s = train::fit(*backend, *model, loss,
                                           {&train, split.train_x.get(), &val, &val_truth, &standardization}, opt);

  const train::PhaseTimes& t = s.phases;
  auto share = [&](double v) { return cat(std::setprecision(3), v, " s (", std::setprecision(2), 100.0 * v / std::max(t.total(), 1e-12), "%)"); };
  log::info(cat("time per phase on rank 0: data ", share(t.data), ", forward ", share(t.forward), ", backward ",
                share(t.backward), ", communication wait ", share(t.comm_wait), ", optimizer ", share(t.optimizer),
                "; host syncs per step ", std::setprecision(2), s.host_syncs_per_step, " (last epoch)"));
  if (summary) *summary = s;
  if (s.stopped) {
    log::info(cat("stopped after step ", s.steps, " (--debug.stop-after-steps); resume with --resume ", run_dir.string()));
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

  std::ostringstream final_line;
  final_line << std::setprecision(5) << "final: epochs=" << s.epochs << " steps=" << s.steps
             << " train_loss=" << s.train_loss;
  if (val_truth.n) final_line << " val_loss=" << s.val_loss << metrics_line(s.val_metrics);
  final_line << std::fixed << std::setprecision(0) << " | " << s.samples_per_s << " samples/s";
  if (s.tokens_per_s > 0) final_line << " (" << s.tokens_per_s << " tokens/s)";
  final_line << " | model "
             << model_path;
  std::cout << final_line.str() << std::endl;
  return 0;
}

}  // namespace hpct::app
