// hpctrain predict --checkpoint RUN, where RUN is an ensemble run directory: every member's
// predictions (each checkpoint as a single predict reads it), combined by train::combine_members
// into the mixture (train/uncertainty.hpp), with intervals at --uq.levels, optionally rescaled by
// split-conformal calibration on --uq.calibration-data; with targets, the uncertainty metrics.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "app/ensemble.hpp"
#include "app/setup.hpp"
#include "core/atomic_file.hpp"
#include "data/dataset.hpp"
#include "data/hdf5.hpp"
#include "nn/model.hpp"
#include "train/checkpoint.hpp"
#include "train/evaluate.hpp"
#include "train/metrics.hpp"
#include "train/model_io.hpp"
#include "train/predictions.hpp"
#include "train/probability_intervals.hpp"
#include "train/standardize.hpp"
#include "train/uncertainty.hpp"

namespace hpct::app {
namespace {

namespace fs = std::filesystem;

// The member checkpoints of an ensemble run: members = M from ensemble.ini (each must exist), or
// without it member-000, member-001, ... as far as they go.
std::vector<std::string> member_checkpoints(const std::string& run) {
  std::int64_t members = -1;
  std::ifstream ini(fs::path(run) / "ensemble.ini");
  for (std::string line; ini && std::getline(ini, line);)
    if (line.rfind("members = ", 0) == 0) members = std::stoll(line.substr(10));
  std::vector<std::string> paths;
  for (std::int64_t m = 0; members < 0 || m < members; ++m) {
    const std::string p = (fs::path(member_dir(run, m)) / "model.h5").string();
    std::error_code ec;
    if (!fs::exists(p, ec)) {
      HPCT_CHECK(members < 0, "option --checkpoint: ", run, " is an ensemble of ", members, " members but ", p,
                 " is missing (train it with --ensemble.resume)");
      break;
    }
    paths.push_back(p);
  }
  HPCT_CHECK(!paths.empty(), "option --checkpoint: ", run, " holds no member-XXX/model.h5");
  return paths;
}

// One member's predictions for the rows of each data set (original units), as the single-checkpoint
// predict makes them: the member's own standardisation, model and output interpretation. The
// checkpoint is read once for all the sets.
std::vector<train::Predictions> predict_member(const std::string& ckpt_path,
                                               const std::vector<const data::Dataset*>& sets, kernels::Backend& be,
                                               std::int64_t batch) {
  const train::CheckpointData ckpt = train::load_checkpoint(ckpt_path);
  const nn::ModelSpec spec = train::spec_from_attrs(ckpt.model, ckpt_path);
  train::check_standardization(ckpt.standardization, spec.in_features, spec.targets, ckpt_path);
  auto model = nn::build_model(spec, be, 0);
  train::load_parameters(be, *model, ckpt.params, ckpt_path);
  const nn::LossKind loss = nn::parse_loss(spec.loss);
  std::vector<train::Predictions> out;
  for (const data::Dataset* raw : sets) {
    check_model_fits_data(spec, *raw, ckpt_path);
    if (raw->targets > 0)
      HPCT_CHECK(data::to_string(raw->task) == spec.task && raw->targets == spec.targets, raw->source, ": /y (",
                 raw->targets, " target(s), task ", data::to_string(raw->task), ") does not match ", ckpt_path,
                 " (", spec.targets, " target(s), task ", spec.task, ")");
    data::Dataset d = *raw;
    train::apply_standardization(ckpt.standardization, d);
    const train::Evaluation ev = train::evaluate(be, *model, loss, d, batch);
    HPCT_CHECK(ev.positions <= 1, ckpt_path, ": predicts per token; ensembles combine one prediction per row");
    out.push_back(train::interpret_outputs(loss, ev.raw, d.n, spec.out_features, ckpt.standardization));
  }
  return out;
}

// The resample seed a member trained on, from its config.ini ([ensemble] bootstrap-seed, which
// train --ensemble.bootstrap-pairs sets); "" when it has none.
std::string member_bootstrap_seed(const std::string& ckpt_path) {
  std::ifstream ini(fs::path(ckpt_path).parent_path() / "config.ini");
  std::string section;
  for (std::string line; ini && std::getline(ini, line);) {
    if (!line.empty() && line.front() == '[') section = line;
    if (section == "[ensemble]" && line.rfind("bootstrap-seed = ", 0) == 0) return line.substr(17);
  }
  return "";
}

// --uq.calibrate pairs or bagged: members 2j and 2j+1 must have trained on one resample.
void check_bootstrap_pairs(const std::vector<std::string>& ckpts, const std::string& calibrate) {
  for (std::size_t m = 0; m + 1 < ckpts.size(); m += 2) {
    const std::string a = member_bootstrap_seed(ckpts[m]), b = member_bootstrap_seed(ckpts[m + 1]);
    HPCT_CHECK(!a.empty() && a == b, "option --uq.calibrate ", calibrate, ": ", ckpts[m], " and ", ckpts[m + 1],
               " did not train on the same bootstrap resample (bootstrap-seed '", a, "' and '", b,
               "' in their config.ini); train the ensemble with --ensemble.bootstrap-pairs");
  }
}

// The ensemble's predictions for each data set, every member loaded once; for binary (bce)
// members also their logits' spread, which the probability intervals are built from, and with
// --uq.calibrate pairs the bootstrap pairs' inflation factor, with bagged the centre's error variance.
struct SetPredictions {
  train::EnsemblePredictions combined;
  train::LogitSpread logit;  // bce only
  train::PairInflation pairs;  // with pairs only
  train::LogitSpread bagged;  // with bagged only
};
std::vector<SetPredictions> predict_ensemble(const std::vector<std::string>& ckpts,
                                             const std::vector<const data::Dataset*>& sets, kernels::Backend& be,
                                             std::int64_t batch, const std::string& calibrate) {
  std::vector<std::vector<train::Predictions>> members(sets.size());
  for (std::size_t m = 0; m < ckpts.size(); ++m) {
    try {
      std::vector<train::Predictions> p = predict_member(ckpts[m], sets, be, batch);
      for (std::size_t s = 0; s < sets.size(); ++s) members[s].push_back(std::move(p[s]));
    } catch (const Error& e) {
      fail("member ", m, ": ", e.what());
    }
  }
  std::vector<SetPredictions> out;
  for (const auto& preds : members) {
    SetPredictions sp{train::combine_members(preds), {}, {}, {}};
    if (sp.combined.loss == nn::LossKind::bce) {
      sp.logit = train::logit_spread(preds);
      if (calibrate == "pairs") sp.pairs = train::pair_inflation(preds);
      if (calibrate == "bagged") sp.bagged = train::bagged_spread(preds);
    }
    out.push_back(std::move(sp));
  }
  return out;
}

std::string level_name(double level) { return cat(std::setprecision(6), level); }

std::vector<float> to_float(const std::vector<double>& v) { return {v.begin(), v.end()}; }

}  // namespace

int run_ensemble_predict(const Config& cfg) {
  for (const char* required : {"checkpoint", "data", "out"})
    HPCT_CHECK(cfg.is_set(required), "option --", required, " is required (see hpctrain predict --help)");
  HPCT_CHECK(cfg.integer("batch-size") > 0, "option --batch-size: must be positive, got ", cfg.integer("batch-size"));
  const std::string run = cfg.str("checkpoint"), data_path = cfg.str("data"), out_path = cfg.str("out");
  const std::vector<double> levels = cfg.real_list("uq.levels");
  train::check_levels(levels);
  const std::string calibrate = cfg.str("uq.calibrate");
  HPCT_CHECK(calibrate == "none" || calibrate == "conformal" || calibrate == "inflation" || calibrate == "pairs" ||
                 calibrate == "bagged",
             "option --uq.calibrate: none | conformal | inflation | pairs | bagged, got ", calibrate);
  const bool conformal = calibrate == "conformal", inflation = calibrate == "inflation", pairs = calibrate == "pairs";
  const bool bagged = calibrate == "bagged";
  HPCT_CHECK(calibrate == "none" || pairs || bagged || cfg.is_set("uq.calibration-data"), "option --uq.calibrate ", calibrate,
             " needs --uq.calibration-data (a held-out HDF5 split with /y)");
  const std::int64_t batch = cfg.integer("batch-size");

  const std::vector<std::string> ckpts = member_checkpoints(run);
  if (pairs || bagged) check_bootstrap_pairs(ckpts, calibrate);
  auto backend = make_backend(cfg);
  const data::Dataset d = data::read_dataset(data_path, /*require_targets=*/false);
  // The calibration split, when conformal intervals are asked for, is predicted in the same pass.
  data::Dataset calibration;
  const bool calibrated = conformal || inflation;
  if (calibrated) calibration = data::read_dataset(cfg.str("uq.calibration-data"), /*require_targets=*/true);
  std::vector<const data::Dataset*> sets = {&d};
  if (calibrated) sets.push_back(&calibration);
  const std::vector<SetPredictions> predicted = predict_ensemble(ckpts, sets, *backend, batch, calibrate);
  const train::EnsemblePredictions& e = predicted[0].combined;
  const bool regression = e.loss == nn::LossKind::mse || e.loss == nn::LossKind::gaussian_nll;
  const bool binary = e.loss == nn::LossKind::bce;
  HPCT_CHECK(!conformal || regression, "option --uq.calibrate conformal: the members of ", run, " use loss ",
             nn::to_string(e.loss), "; conformal intervals are for regression (mse, gaussian-nll)");
  HPCT_CHECK(!(inflation || pairs || bagged) || binary, "option --uq.calibrate ", calibrate, ": the members of ",
             run, " use loss ", nn::to_string(e.loss), "; logit intervals are for binary classifiers (bce)");

  // Intervals: Gaussian from the mixture variance, or with conformal scales fitted on the
  // calibration split's ensemble predictions.
  train::Intervals iv;
  train::ConformalScales scales;
  if (regression) {
    if (conformal) {
      const train::EnsemblePredictions& c = predicted[1].combined;
      scales = train::fit_conformal(c.mean, c.var, c.width, calibration.y, levels);
      iv = train::conformal_intervals(e.mean, e.var, e.width, scales);
    } else {
      iv = train::gaussian_intervals(e.mean, e.var, e.width, levels);
    }
  }
  // Binary classifiers: intervals on the logit scale (train/probability_intervals.hpp), the spread
  // inflated by a factor fitted on the calibration split's labels when asked.
  double inflation_k = 1.0;
  if (binary) {
    if (inflation) inflation_k = train::fit_logit_inflation(predicted[1].logit, calibration.y);
    if (pairs) inflation_k = predicted[0].pairs.k;
    // bagged: each row's own error variance of the centre in place of the members' spread.
    iv = train::logit_intervals(bagged ? predicted[0].bagged : predicted[0].logit, levels, inflation_k);
  }

  namespace h5 = data::h5;
  h5::AtomicFile out(out_path);
  const h5::File& f = out.file();
  const std::vector<std::int64_t> shape = {e.n, e.width};
  if (regression) {
    std::vector<double> sd(e.var.size());
    for (std::size_t i = 0; i < sd.size(); ++i) sd[i] = std::sqrt(e.var[i]);
    h5::write(f, "/mean", shape, to_float(e.mean));
    h5::write(f, "/var", shape, to_float(e.var));
    h5::write(f, "/std", shape, to_float(sd));
    h5::write(f, "/aleatoric", shape, to_float(e.aleatoric));
    h5::write(f, "/epistemic", shape, to_float(e.epistemic));
    for (std::size_t k = 0; k < levels.size(); ++k) {
      h5::write(f, "/lower_" + level_name(levels[k]), shape, to_float(iv.lower[k]));
      h5::write(f, "/upper_" + level_name(levels[k]), shape, to_float(iv.upper[k]));
    }
  } else {
    h5::write(f, "/prob", shape, to_float(e.prob));
    if (!e.label.empty()) h5::write(f, "/label", {e.n}, e.label);
    if (binary) {
      std::vector<double> sd(predicted[0].logit.var.size());
      for (std::size_t i = 0; i < sd.size(); ++i) sd[i] = std::sqrt(predicted[0].logit.var[i]);
      h5::write(f, "/logit_mean", shape, to_float(predicted[0].logit.mean));
      h5::write(f, "/logit_std", shape, to_float(sd));
      if (bagged) {
        for (std::size_t i = 0; i < sd.size(); ++i) sd[i] = std::sqrt(predicted[0].bagged.var[i]);
        h5::write(f, "/centre_std", shape, to_float(sd));
      }
      for (std::size_t j = 0; j < levels.size(); ++j) {
        h5::write(f, "/lower_" + level_name(levels[j]), shape, to_float(iv.lower[j]));
        h5::write(f, "/upper_" + level_name(levels[j]), shape, to_float(iv.upper[j]));
      }
      h5::write_attr(f, "/", "inflation", inflation_k);
    }
  }
  h5::write_attr(f, "/", "loss", nn::to_string(e.loss));
  h5::write_attr(f, "/", "checkpoint", run);
  h5::write_attr(f, "/", "input", data_path);
  h5::write_attr(f, "/", "members", e.members);
  const char* binary_kind = inflation ? "logit-inflated" : pairs ? "logit-pairs" : bagged ? "logit-bagged" : "logit";
  h5::write_attr(f, "/", "intervals", regression ? (conformal ? "conformal" : "gaussian") : binary ? binary_kind : "none");
  if (calibrated) h5::write_attr(f, "/", "calibration_data", cfg.str("uq.calibration-data"));

  std::ostringstream line, table;
  line << "wrote " << out_path << ": " << e.n << " predictions of an ensemble of " << e.members << " members";
  if (d.targets > 0) {
    line << std::setprecision(5) << " |";
    // The task's usual metrics on the ensemble's point prediction.
    train::Predictions p;
    p.loss = e.loss, p.n = e.n, p.width = e.width;
    p.mean = to_float(e.mean), p.var = to_float(e.var), p.prob = to_float(e.prob), p.label = e.label;
    if (e.loss == nn::LossKind::mse) p.var.clear();
    for (const auto& [name, value] : train::compute_metrics(p, d)) line << " " << name << "=" << value;
    auto metric = [&](const std::string& name, double value) {
      line << " " << name << "=" << value;
      h5::write_attr(f, "/", name, value);
    };
    if (regression) {
      for (const train::IntervalScore& s : train::score_intervals(iv, d.y)) {
        metric("coverage_" + level_name(s.level), s.coverage);
        metric("width_" + level_name(s.level), s.mean_width);
      }
      metric("nll", train::gaussian_nll(e.mean, e.var, d.y));
      const std::vector<train::IntervalScore> cal = train::calibration_table(e.mean, e.var, e.width, d.y);
      metric("calibration_error", train::calibration_error(cal));
      std::vector<float> nominal, observed;
      table << std::setprecision(4) << "calibration (gaussian intervals): nominal observed";
      for (const train::IntervalScore& s : cal) {
        nominal.push_back(static_cast<float>(s.level)), observed.push_back(static_cast<float>(s.coverage));
        table << " " << s.level << ":" << s.coverage;
      }
      h5::write(f, "/calibration_nominal", {static_cast<std::int64_t>(cal.size())}, nominal);
      h5::write(f, "/calibration_observed", {static_cast<std::int64_t>(cal.size())}, observed);
    } else if (e.loss == nn::LossKind::bce) {
      metric("brier", train::brier_score(e.prob, d.y));
      metric("ece", train::expected_calibration_error(e.prob, d.y));
    } else {
      metric("brier", train::brier_score(e.prob, e.width, d.labels));
      metric("ece", train::expected_calibration_error(e.prob, e.width, d.labels));
    }
    for (const auto& [name, values] : d.extras)
      if (name == "p_optimal" && binary) {
        // How well the intervals hold the optimal (Bayes) probability: coverage and mean width.
        metric("p_optimal_mae", train::probability_mae(e.prob, values));
        for (const train::IntervalScore& s : train::score_intervals(iv, values)) {
          metric("p_optimal_coverage_" + level_name(s.level), s.coverage);
          metric("p_optimal_width_" + level_name(s.level), s.mean_width);
        }
      }
  }
  if (conformal) {
    table << (table.str().empty() ? "" : "\n") << std::setprecision(5) << "conformal scales (" << scales.n
          << " calibration rows):";
    for (std::size_t k = 0; k < levels.size(); ++k)
      for (std::int64_t c = 0; c < scales.width; ++c) {
        table << " " << level_name(levels[k]) << (scales.width > 1 ? cat("[", c, "]") : "") << "="
              << scales.scale[k][static_cast<std::size_t>(c)];
        h5::write_attr(f, "/", cat("conformal_scale_", level_name(levels[k]), scales.width > 1 ? cat("_", c) : ""),
                       scales.scale[k][static_cast<std::size_t>(c)]);
      }
  }
  if (inflation) table << (table.str().empty() ? "" : "\n") << std::setprecision(5) << "logit inflation ("
                       << calibration.n << " calibration rows): " << inflation_k;
  if (pairs) table << (table.str().empty() ? "" : "\n") << std::setprecision(5)
                   << "logit inflation (bootstrap pairs, " << e.members << " members, seed share "
                   << predicted[0].pairs.seed_share << " of the spread): " << inflation_k;
  if (bagged) {  // (members with no spread at all give 0)
    // The centre's error sd relative to the members' spread, pooled over the rows (1 = naive width).
    double v = 0, s2 = 0;
    for (std::size_t i = 0; i < predicted[0].logit.var.size(); ++i)
      v += predicted[0].bagged.var[i], s2 += predicted[0].logit.var[i];
    table << (table.str().empty() ? "" : "\n") << std::setprecision(5) << "logit centre sd (bagged, " << e.members
          << " members, per row; pooled over the rows, relative to the members' spread): " << (s2 > 0 ? std::sqrt(v / s2) : 0.0);
  }
  out.commit();
  if (!table.str().empty()) std::cout << table.str() << "\n";
  std::cout << line.str() << std::endl;
  return 0;
}

}  // namespace hpct::app
