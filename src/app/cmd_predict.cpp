// hpctrain predict: load a checkpoint, run it over a data set and write the predictions to HDF5
// (layout in src/train/predictions.hpp); prints metrics when the data set has targets.
#include <iomanip>
#include <iostream>
#include <sstream>

#include "app/commands.hpp"
#include "app/config.hpp"
#include "app/ensemble.hpp"
#include "app/setup.hpp"
#include "data/dataset.hpp"
#include "data/hdf5.hpp"
#include "nn/model.hpp"
#include "train/checkpoint.hpp"
#include "train/evaluate.hpp"
#include "train/metrics.hpp"
#include "train/model_io.hpp"
#include "train/predictions.hpp"
#include "train/sampling.hpp"
#include "train/standardize.hpp"

namespace hpct::app {
namespace {

// Shapes [n, width], or [n, L, width] for per-token predictions.
void write_predictions(const std::string& path, const train::Predictions& p, const std::string& checkpoint,
                       const std::string& input) {
  namespace h5 = data::h5;
  h5::AtomicFile out(path);
  const h5::File& f = out.file();
  const bool token = p.positions > 1;
  const std::vector<std::int64_t> shape = token ? std::vector<std::int64_t>{p.n, p.positions, p.width}
                                                : std::vector<std::int64_t>{p.n, p.width};
  if (!p.mean.empty()) h5::write(f, "/mean", shape, p.mean);
  if (!p.var.empty()) {
    h5::write(f, "/var", shape, p.var);
    std::vector<float> sd(p.var.size());
    for (std::size_t i = 0; i < sd.size(); ++i) sd[i] = std::sqrt(p.var[i]);
    h5::write(f, "/std", shape, sd);
  }
  if (!p.prob.empty()) h5::write(f, "/prob", shape, p.prob);
  if (!p.label.empty())
    h5::write(f, "/label", token ? std::vector<std::int64_t>{p.n, p.positions} : std::vector<std::int64_t>{p.n},
              p.label);
  h5::write_attr(f, "/", "loss", nn::to_string(p.loss));
  h5::write_attr(f, "/", "checkpoint", checkpoint);
  h5::write_attr(f, "/", "input", input);
  out.commit();
}

// predict --prompt: prints the prompt and the sampled continuation.
int run_generate(const Config& cfg, const train::CheckpointData& ckpt, const nn::ModelSpec& spec,
                 const std::string& ckpt_path) {
  HPCT_CHECK(spec.type == "lm", "option --prompt: needs an lm checkpoint, but ", ckpt_path, " holds model ", spec.type);
  auto backend = make_backend(cfg);
  auto model = nn::build_model(spec, *backend, 0);
  train::load_parameters(*backend, *model, ckpt.params, ckpt_path);
  train::SamplingOptions opt;
  opt.tokens = cfg.integer("generate");
  opt.temperature = cfg.real("temperature");
  opt.top_k = cfg.integer("top-k");
  opt.seed = cfg.unsigned_integer("seed");
  const std::string prompt = cfg.str("prompt");
  const std::string text = train::generate(*backend, *model, prompt, opt);
  std::cout << prompt << text << std::endl;
  return 0;
}

}  // namespace

int run_predict(const Args& args) {
  Options o("predict", "Write a checkpoint's predictions for a data set to HDF5: /mean (and /var, /std for\n"
                       "gaussian-nll) in the data's units, /prob (bce, ce) and /label (ce); per-token models\n"
                       "write [N, L, ...]. With an lm checkpoint and --prompt: print a sampled continuation.");
  o.add("checkpoint", "", "checkpoint written by train (model.h5)")
      .add("data", "", "HDF5 data set (the layout the model was trained on); /y optional (then metrics are printed)")
      .add("out", "", "output HDF5 file")
      .add("batch-size", "1024", "rows per forward pass")
      .add("threads", "0", "threads (0 = cores of the node / processes on it)")
      .add("device", "auto", "cpu | cpu-async | cuda | auto (HPCTRAIN_DEVICE, else cuda when a GPU is usable, else cpu)")
      .add("gpu-ids", "", "cuda: GPUs to use, e.g. 0,2 (default: every visible one); rank uses ids[local rank % count]")
      .flag("allow-gpu-sharing", false, "cuda: let more ranks than GPUs on a node share them (else an error)")
      .flag("precision.tf32", false, "cuda: fp32 matrix products on TF32 tensor cores (faster, ~1e-3 relative error)")
      .add("prompt", "", "lm: text to continue (then --data and --out are not used); prints prompt + continuation")
      .add("generate", "200", "lm: bytes to sample after the prompt")
      .add("temperature", "1", "lm: sampling temperature (0 = greedy)")
      .add("top-k", "0", "lm: sample among the k most likely bytes (0 = all)")
      .add("seed", "1", "lm: seed of the sampling (Philox)")
      .add("uq.levels", "0.68,0.95", "ensembles: interval levels in (0, 1), written as /lower_L, /upper_L")
      .add("uq.calibrate", "none", "ensembles: none | conformal (regression: split-conformal on --uq.calibration-data) | inflation (binary: logit spread scaled by a factor fitted on --uq.calibration-data labels) | pairs (binary, members trained with --ensemble.bootstrap-pairs: the seeds' noise taken out of the spread) | bagged (binary, --ensemble.bootstrap-pairs members: per row, the bagged centre's error variance, the resamples' spread plus the Monte Carlo error of averaging them; README: Classifier intervals)")
      .add("uq.calibration-data", "", "ensembles: held-out HDF5 split with /y for --uq.calibrate conformal or inflation");
  const Config cfg = Config::parse(o, args);
  if (cfg.help()) {
    std::cout << o.help_text();
    return 0;
  }
  HPCT_CHECK(cfg.is_set("checkpoint"), "option --checkpoint is required (see hpctrain predict --help)");
  const std::string ckpt_path = cfg.str("checkpoint"), data_path = cfg.str("data");
  if (is_ensemble_run(ckpt_path)) return run_ensemble_predict(cfg);  // a RUN of train --ensemble.members
  const train::CheckpointData ckpt = train::load_checkpoint(ckpt_path);
  const nn::ModelSpec spec = train::spec_from_attrs(ckpt.model, ckpt_path);
  if (cfg.is_set("prompt")) return run_generate(cfg, ckpt, spec, ckpt_path);
  for (const char* required : {"data", "out"})
    HPCT_CHECK(cfg.is_set(required), "option --", required, " is required (see hpctrain predict --help)");
  HPCT_CHECK(cfg.integer("batch-size") > 0, "option --batch-size: must be positive, got ", cfg.integer("batch-size"));

  data::Dataset d = data::read_dataset(data_path, /*require_targets=*/false);
  check_model_fits_data(spec, d, ckpt_path);
  if (d.targets > 0)
    HPCT_CHECK(data::to_string(d.task) == spec.task && d.targets == spec.targets, data_path, ": /y (",
               d.targets, " target(s), task ", data::to_string(d.task), ") does not match ", ckpt_path, " (",
               spec.targets, " target(s), task ", spec.task, ")");
  train::check_standardization(ckpt.standardization, spec.in_features, spec.targets, ckpt_path);
  const data::Dataset truth = d;
  train::apply_standardization(ckpt.standardization, d);

  auto backend = make_backend(cfg);
  auto model = nn::build_model(spec, *backend, 0);
  train::load_parameters(*backend, *model, ckpt.params, ckpt_path);
  const nn::LossKind loss = nn::parse_loss(spec.loss);
  const train::Evaluation ev = train::evaluate(*backend, *model, loss, d, cfg.integer("batch-size"));
  const train::Predictions p =
      train::interpret_outputs(loss, ev.raw, d.n, spec.out_features, ckpt.standardization, ev.positions);
  write_predictions(cfg.str("out"), p, ckpt_path, data_path);

  std::ostringstream line;
  line << "wrote " << cfg.str("out") << ": " << d.n << " predictions" << (ev.positions > 1 ? " (per token)" : "");
  if (truth.targets > 0) {
    line << std::setprecision(5) << " | loss=" << ev.loss.mean();
    for (const auto& [name, value] : train::compute_metrics(p, truth, spec.type == "lm"))
      line << " " << name << "=" << value;
  }
  std::cout << line.str() << std::endl;
  return 0;
}

}  // namespace hpct::app
