#include "train/uncertainty.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <utility>

#include "core/error.hpp"
#include "data/dataset.hpp"

namespace hpct::train {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void check_size(const char* what, std::size_t got, std::size_t expected, const char* against) {
  HPCT_CHECK(got == expected, what, ": ", got, " values, but ", against, " has ", expected);
}

// Rows of a [n, width] vector; the size must be a multiple of width.
std::int64_t rows_of(const char* what, std::size_t size, std::int64_t width) {
  HPCT_CHECK(width > 0, what, ": width ", width, " must be positive");
  HPCT_CHECK(size % static_cast<std::size_t>(width) == 0, what, ": ", size, " values are not rows of ", width);
  return static_cast<std::int64_t>(size) / width;
}

}  // namespace

// ---- Combination

EnsemblePredictions combine_members(const std::vector<Predictions>& members) {
  HPCT_CHECK(!members.empty(), "ensemble has no members (--ensemble.members must be at least 1)");
  const Predictions& first = members.front();
  EnsemblePredictions e;
  e.loss = first.loss;
  e.n = first.n;
  e.width = first.width;
  e.members = static_cast<std::int64_t>(members.size());
  const auto size = static_cast<std::size_t>(e.n * e.width);
  const bool regression = e.loss == nn::LossKind::mse || e.loss == nn::LossKind::gaussian_nll;
  for (std::size_t m = 0; m < members.size(); ++m) {
    const Predictions& p = members[m];
    HPCT_CHECK(p.loss == e.loss, "ensemble member ", m, ": loss ", nn::to_string(p.loss), " differs from member 0's ",
               nn::to_string(e.loss));
    HPCT_CHECK(p.n == e.n && p.width == e.width, "ensemble member ", m, ": predictions [", p.n, ", ", p.width,
               "] differ from member 0's [", e.n, ", ", e.width, "]");
    if (regression) check_size(cat("ensemble member ", m, " mean").c_str(), p.mean.size(), size, "[n, T]");
    if (e.loss == nn::LossKind::gaussian_nll)
      check_size(cat("ensemble member ", m, " var").c_str(), p.var.size(), size, "[n, T]");
    if (!regression) check_size(cat("ensemble member ", m, " prob").c_str(), p.prob.size(), size, "[n, width]");
  }
  const double inv_m = 1.0 / static_cast<double>(members.size());
  if (regression) {
    e.mean.assign(size, 0.0);
    e.aleatoric.assign(size, 0.0);
    e.epistemic.assign(size, 0.0);
    // Two passes (mean first, then squared deviations) rather than E[mu^2] - E[mu]^2, which cancels
    // catastrophically when the members nearly agree.
    for (const Predictions& p : members)
      for (std::size_t i = 0; i < size; ++i) e.mean[i] += p.mean[i];
    for (double& v : e.mean) v *= inv_m;
    for (const Predictions& p : members)
      for (std::size_t i = 0; i < size; ++i) {
        const double d = p.mean[i] - e.mean[i];
        e.epistemic[i] += d * d;
        if (e.loss == nn::LossKind::gaussian_nll) e.aleatoric[i] += p.var[i];
      }
    e.var.resize(size);
    for (std::size_t i = 0; i < size; ++i) {
      e.epistemic[i] *= inv_m;
      e.aleatoric[i] *= inv_m;
      e.var[i] = e.aleatoric[i] + e.epistemic[i];
    }
  } else {
    e.prob.assign(size, 0.0);
    for (const Predictions& p : members)
      for (std::size_t i = 0; i < size; ++i) e.prob[i] += p.prob[i];
    for (double& v : e.prob) v *= inv_m;
    if (e.loss == nn::LossKind::ce) {
      e.label.resize(static_cast<std::size_t>(e.n));
      for (std::int64_t r = 0; r < e.n; ++r) {
        const double* row = &e.prob[static_cast<std::size_t>(r * e.width)];
        e.label[static_cast<std::size_t>(r)] = static_cast<std::int32_t>(std::max_element(row, row + e.width) - row);
      }
    }
  }
  return e;
}

// ---- Normal distribution

double normal_cdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

double normal_quantile(double p) {
  if (std::isnan(p) || p < 0.0 || p > 1.0) return kNaN;
  if (p == 0.0) return -kInf;
  if (p == 1.0) return kInf;
  // Wichura, "Algorithm AS 241: The percentage points of the normal distribution", Applied
  // Statistics 37 (1988) 477-484: PPND16. Central range |p - 1/2| <= 0.425: x = q A(r) / B(r) with
  // r = 0.180625 - q^2. Tails: r = sqrt(-log(min(p, 1 - p))), one rational function for r <= 5
  // (p >= about 1.4e-11) and one beyond, then the sign of q.
  const double q = p - 0.5;
  if (std::abs(q) <= 0.425) {
    const double r = 0.180625 - q * q;
    const double num = (((((((2.5090809287301226727e+3 * r + 3.3430575583588128105e+4) * r +
                             6.7265770927008700853e+4) * r + 4.5921953931549871457e+4) * r +
                           1.3731693765509461125e+4) * r + 1.9715909503065514427e+3) * r +
                         1.3314166789178437745e+2) * r + 3.3871328727963666080e+0);
    const double den = (((((((5.2264952788528545610e+3 * r + 2.8729085735721942674e+4) * r +
                             3.9307895800092710610e+4) * r + 2.1213794301586595867e+4) * r +
                           5.3941960214247511077e+3) * r + 6.8718700749205790830e+2) * r +
                         4.2313330701600911252e+1) * r + 1.0);
    return q * num / den;
  }
  double r = std::sqrt(-std::log(q < 0.0 ? p : 1.0 - p));
  double x;
  if (r <= 5.0) {
    r -= 1.6;
    const double num = (((((((7.74545014278341407640e-4 * r + 2.27238449892691845833e-2) * r +
                             2.41780725177450611770e-1) * r + 1.27045825245236838258e+0) * r +
                           3.64784832476320460504e+0) * r + 5.76949722146069140550e+0) * r +
                         4.63033784615654529590e+0) * r + 1.42343711074968357734e+0);
    const double den = (((((((1.05075007164441684324e-9 * r + 5.47593808499534494600e-4) * r +
                             1.51986665636164571966e-2) * r + 1.48103976427480074590e-1) * r +
                           6.89767334985100004550e-1) * r + 1.67638483018380384940e+0) * r +
                         2.05319162663775882187e+0) * r + 1.0);
    x = num / den;
  } else {
    r -= 5.0;
    const double num = (((((((2.01033439929228813265e-7 * r + 2.71155556874348757815e-5) * r +
                             1.24266094738807843860e-3) * r + 2.65321895265761230930e-2) * r +
                           2.96560571828504891230e-1) * r + 1.78482653991729133580e+0) * r +
                         5.46378491116411436990e+0) * r + 6.65790464350110377720e+0);
    const double den = (((((((2.04426310338993978564e-15 * r + 1.42151175831644588870e-7) * r +
                             1.84631831751005468180e-5) * r + 7.86869131145613259100e-4) * r +
                           1.48753612908506148525e-2) * r + 1.36929880922735805310e-1) * r +
                         5.99832206555887937690e-1) * r + 1.0);
    x = num / den;
  }
  return q < 0.0 ? -x : x;
}

namespace {

// P(|T| <= t) for T ~ Student t with integer df (uncertainty.hpp).
double student_t_central(double t, int df) {
  const double theta = std::atan(t / std::sqrt(static_cast<double>(df))), c = std::cos(theta), c2 = c * c;
  if (df % 2 == 1) {
    if (df == 1) return 2.0 * theta / std::numbers::pi;
    double term = c, sum = c;
    for (int k = 1; 2 * k + 1 <= df - 2; ++k) {
      term *= c2 * (2.0 * k) / (2.0 * k + 1.0);
      sum += term;
    }
    return 2.0 / std::numbers::pi * (theta + std::sin(theta) * sum);
  }
  double term = 1.0, sum = 1.0;
  for (int k = 1; 2 * k <= df - 2; ++k) {
    term *= c2 * (2.0 * k - 1.0) / (2.0 * k);
    sum += term;
  }
  return std::sin(theta) * sum;
}

}  // namespace

double student_t_two_sided(double a, int df) {
  HPCT_CHECK(df >= 1 && a > 0.0 && a < 1.0, "Student t quantile: needs df >= 1 and a level in (0, 1), got df ", df,
             ", level ", a);
  double lo = 0.0, hi = 1.0;
  while (student_t_central(hi, df) < a) lo = hi, hi *= 2.0;
  for (int it = 0; it < 200 && hi - lo > 1e-15 * hi; ++it) {
    const double mid = 0.5 * (lo + hi);
    (student_t_central(mid, df) < a ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

// ---- Intervals

void check_levels(const std::vector<double>& levels) {
  HPCT_CHECK(!levels.empty(), "--uq.levels is empty: give levels in (0, 1), e.g. 0.68,0.95");
  for (double a : levels)
    HPCT_CHECK(a > 0.0 && a < 1.0, "--uq.levels: ", a, " is outside (0, 1) (a level is a coverage, e.g. 0.95)");
}

Intervals scaled_intervals(const std::vector<double>& mean, const std::vector<double>& var, std::int64_t width,
                           const std::vector<double>& levels, const std::vector<std::vector<double>>& scale) {
  check_levels(levels);
  Intervals iv;
  iv.levels = levels;
  iv.width = width;
  iv.n = rows_of("intervals: mean", mean.size(), width);
  check_size("intervals: var", var.size(), mean.size(), "mean");
  check_size("intervals: scales", scale.size(), levels.size(), "the level list");
  const std::size_t size = mean.size();
  for (std::size_t k = 0; k < levels.size(); ++k) {
    check_size("intervals: scales of a level", scale[k].size(), static_cast<std::size_t>(width), "the targets");
    std::vector<double> lo(size), hi(size);
    for (std::size_t i = 0; i < size; ++i) {
      const double s = scale[k][i % static_cast<std::size_t>(width)];
      // An infinite scale is the whole line, even where the std is 0 (inf * 0 would be NaN); a
      // negative variance counts as 0.
      const double half = std::isinf(s) ? kInf : s * std::sqrt(std::max(var[i], 0.0));
      lo[i] = mean[i] - half;
      hi[i] = mean[i] + half;
    }
    iv.lower.push_back(std::move(lo));
    iv.upper.push_back(std::move(hi));
  }
  return iv;
}

Intervals gaussian_intervals(const std::vector<double>& mean, const std::vector<double>& var, std::int64_t width,
                             const std::vector<double>& levels) {
  check_levels(levels);
  HPCT_CHECK(width > 0, "intervals: width ", width, " must be positive");
  std::vector<std::vector<double>> scale;
  for (double a : levels) scale.emplace_back(static_cast<std::size_t>(width), normal_quantile(0.5 * (1.0 + a)));
  return scaled_intervals(mean, var, width, levels, scale);
}

// ---- Metrics

std::vector<IntervalScore> score_intervals(const Intervals& iv, const std::vector<float>& y) {
  const std::size_t size = static_cast<std::size_t>(iv.n * iv.width);
  check_size("interval metrics: y", y.size(), size, "the interval set");
  HPCT_CHECK(size > 0, "interval metrics: no values");
  std::vector<IntervalScore> out;
  for (std::size_t k = 0; k < iv.levels.size(); ++k) {
    double covered = 0, width = 0;
    for (std::size_t i = 0; i < size; ++i) {
      covered += iv.lower[k][i] <= y[i] && y[i] <= iv.upper[k][i];
      width += iv.upper[k][i] - iv.lower[k][i];
    }
    out.push_back({iv.levels[k], covered / static_cast<double>(size), width / static_cast<double>(size)});
  }
  return out;
}

double gaussian_nll(const std::vector<double>& mean, const std::vector<double>& var, const std::vector<float>& y) {
  check_size("gaussian nll: var", var.size(), mean.size(), "mean");
  check_size("gaussian nll: y", y.size(), mean.size(), "mean");
  HPCT_CHECK(!mean.empty(), "gaussian nll: no values");
  const double half_log_2pi = 0.5 * std::log(2.0 * std::numbers::pi);
  double sum = 0;
  for (std::size_t i = 0; i < mean.size(); ++i) {
    if (!(var[i] > 0.0)) return kInf;
    const double e = y[i] - mean[i];
    sum += half_log_2pi + 0.5 * std::log(var[i]) + e * e / (2.0 * var[i]);
  }
  return sum / static_cast<double>(mean.size());
}

std::vector<double> calibration_levels() { return {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95}; }

std::vector<IntervalScore> calibration_table(const std::vector<double>& mean, const std::vector<double>& var,
                                             std::int64_t width, const std::vector<float>& y) {
  return score_intervals(gaussian_intervals(mean, var, width, calibration_levels()), y);
}

double calibration_error(const std::vector<IntervalScore>& table) {
  HPCT_CHECK(!table.empty(), "calibration error: empty table");
  double sum = 0;
  for (const auto& row : table) sum += std::abs(row.coverage - row.level);
  return sum / static_cast<double>(table.size());
}

double brier_score(const std::vector<double>& prob, const std::vector<float>& y) {
  check_size("brier score: y", y.size(), prob.size(), "prob");
  HPCT_CHECK(!prob.empty(), "brier score: no values");
  double sum = 0;
  for (std::size_t i = 0; i < prob.size(); ++i) sum += (prob[i] - y[i]) * (prob[i] - y[i]);
  return sum / static_cast<double>(prob.size());
}

double brier_score(const std::vector<double>& prob, std::int64_t classes, const std::vector<std::int32_t>& labels) {
  const std::int64_t n = rows_of("brier score: prob", prob.size(), classes);
  check_size("brier score: labels", labels.size(), static_cast<std::size_t>(n), "the rows of prob");
  double sum = 0, rows = 0;
  for (std::int64_t r = 0; r < n; ++r) {
    const std::int32_t label = labels[static_cast<std::size_t>(r)];
    if (label == data::kIgnoreLabel) continue;
    HPCT_CHECK(label >= 0 && label < classes, "brier score: row ", r, " has label ", label, " outside [0, ", classes,
               ")");
    for (std::int64_t c = 0; c < classes; ++c) {
      const double d = prob[static_cast<std::size_t>(r * classes + c)] - (c == label ? 1.0 : 0.0);
      sum += d * d;
    }
    rows += 1;
  }
  return rows > 0 ? sum / rows : kNaN;
}

namespace {

// ECE from (confidence, correct) pairs: bins ((b-1)/B, b/B], b = 1..B.
class CalibrationBins {
 public:
  explicit CalibrationBins(int bins) : conf_(check(bins)), correct_(conf_.size()) {}
  void add(double conf, bool correct) {
    const int b_count = static_cast<int>(conf_.size());
    const int b = std::clamp(static_cast<int>(std::ceil(conf * b_count)) - 1, 0, b_count - 1);
    conf_[b] += conf;
    correct_[b] += correct ? 1.0 : 0.0;
    n_ += 1.0;
  }
  double ece() const {
    if (n_ == 0) return kNaN;
    double sum = 0;
    // |B_b|/n * |acc_b - conf_b| = |correct_b - sum conf_b| / n.
    for (std::size_t b = 0; b < conf_.size(); ++b) sum += std::abs(correct_[b] - conf_[b]);
    return sum / n_;
  }

 private:
  static std::size_t check(int bins) {
    HPCT_CHECK(bins > 0, "expected calibration error: ", bins, " bins (must be at least 1)");
    return static_cast<std::size_t>(bins);
  }
  std::vector<double> conf_, correct_;  // per bin: sum of confidences, of correct predictions
  double n_ = 0;
};

}  // namespace

double expected_calibration_error(const std::vector<double>& prob, const std::vector<float>& y, int bins) {
  check_size("expected calibration error: y", y.size(), prob.size(), "prob");
  CalibrationBins cb(bins);
  for (std::size_t i = 0; i < prob.size(); ++i) {
    const bool predicted = prob[i] > 0.5;
    cb.add(predicted ? prob[i] : 1.0 - prob[i], predicted == (y[i] > 0.5f));
  }
  return cb.ece();
}

double expected_calibration_error(const std::vector<double>& prob, std::int64_t classes,
                                  const std::vector<std::int32_t>& labels, int bins) {
  const std::int64_t n = rows_of("expected calibration error: prob", prob.size(), classes);
  check_size("expected calibration error: labels", labels.size(), static_cast<std::size_t>(n), "the rows of prob");
  CalibrationBins cb(bins);
  for (std::int64_t r = 0; r < n; ++r) {
    const std::int32_t label = labels[static_cast<std::size_t>(r)];
    if (label == data::kIgnoreLabel) continue;
    const double* row = &prob[static_cast<std::size_t>(r * classes)];
    const std::int64_t top = std::max_element(row, row + classes) - row;
    cb.add(row[top], top == label);
  }
  return cb.ece();
}

double probability_mae(const std::vector<double>& prob, const std::vector<float>& p_optimal) {
  check_size("probability mae: p_optimal", p_optimal.size(), prob.size(), "prob");
  HPCT_CHECK(!prob.empty(), "probability mae: no values");
  double sum = 0;
  for (std::size_t i = 0; i < prob.size(); ++i) sum += std::abs(prob[i] - p_optimal[i]);
  return sum / static_cast<double>(prob.size());
}

// ---- Split-conformal calibration

std::int64_t conformal_rank(std::int64_t n, double level) {
  check_levels({level});
  HPCT_CHECK(n > 0, "conformal calibration: the calibration split is empty");
  const double x = static_cast<double>(n + 1) * level;
  const double rounded = std::round(x);
  // Within a relative 1e-12 of an integer: that integer (the product's rounding error is ~1e-16
  // relative), else the ceiling.
  const double k = std::abs(x - rounded) <= 1e-12 * std::max(1.0, x) ? rounded : std::ceil(x);
  return static_cast<std::int64_t>(k);
}

double conformal_quantile(std::vector<double> scores, double level) {
  const std::int64_t n = static_cast<std::int64_t>(scores.size());
  const std::int64_t k = conformal_rank(n, level);
  if (k > n) return kInf;
  std::nth_element(scores.begin(), scores.begin() + (k - 1), scores.end());
  return scores[static_cast<std::size_t>(k - 1)];
}

ConformalScales fit_conformal(const std::vector<double>& mean, const std::vector<double>& var, std::int64_t width,
                              const std::vector<float>& y, const std::vector<double>& levels) {
  check_levels(levels);
  const std::int64_t n = rows_of("conformal calibration: mean", mean.size(), width);
  check_size("conformal calibration: var", var.size(), mean.size(), "mean");
  check_size("conformal calibration: y", y.size(), mean.size(), "mean");
  HPCT_CHECK(n > 0, "conformal calibration: the calibration split is empty");
  ConformalScales c;
  c.levels = levels;
  c.n = n;
  c.width = width;
  c.scale.assign(levels.size(), std::vector<double>(static_cast<std::size_t>(width)));
  std::vector<double> s(static_cast<std::size_t>(n));
  for (std::int64_t t = 0; t < width; ++t) {
    for (std::int64_t r = 0; r < n; ++r) {
      const auto i = static_cast<std::size_t>(r * width + t);
      HPCT_CHECK(var[i] > 0.0, "conformal calibration: row ", r, " target ", t, " has predicted variance ", var[i],
                 " (normalised residuals need a positive variance)");
      s[static_cast<std::size_t>(r)] = std::abs(y[i] - mean[i]) / std::sqrt(var[i]);
    }
    for (std::size_t k = 0; k < levels.size(); ++k)
      c.scale[k][static_cast<std::size_t>(t)] = conformal_quantile(s, levels[k]);
  }
  return c;
}

Intervals conformal_intervals(const std::vector<double>& mean, const std::vector<double>& var, std::int64_t width,
                              const ConformalScales& c) {
  HPCT_CHECK(width == c.width, "conformal intervals: ", width, " targets, but the calibration had ", c.width);
  return scaled_intervals(mean, var, width, c.levels, c.scale);
}

}  // namespace hpct::train
