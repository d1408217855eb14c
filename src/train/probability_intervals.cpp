#include "train/probability_intervals.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.hpp"

namespace hpct::train {

namespace {

double logit(double p) {
  p = std::clamp(p, 1e-7, 1.0 - 1e-7);
  return std::log(p / (1.0 - p));
}

double sigmoid(double l) { return l >= 0 ? 1.0 / (1.0 + std::exp(-l)) : std::exp(l) / (1.0 + std::exp(l)); }

// Mean Bernoulli log-likelihood of y under sigmoid(lbar / sqrt(1 + pi k^2 s^2 / 8)).
double log_likelihood(const LogitSpread& s, const std::vector<float>& y, double k) {
  double sum = 0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    const double p = std::clamp(sigmoid(s.mean[i] / std::sqrt(1.0 + std::numbers::pi * k * k * s.var[i] / 8.0)),
                                1e-12, 1.0 - 1e-12);
    sum += y[i] > 0.5f ? std::log(p) : std::log(1.0 - p);
  }
  return sum / static_cast<double>(y.size());
}

}  // namespace

LogitSpread logit_spread(const std::vector<Predictions>& members) {
  HPCT_CHECK(!members.empty(), "probability intervals: the ensemble has no members");
  LogitSpread s;
  s.n = members.front().n, s.width = members.front().width;
  const auto size = static_cast<std::size_t>(s.n * s.width);
  for (std::size_t m = 0; m < members.size(); ++m) {
    const Predictions& p = members[m];
    HPCT_CHECK(p.loss == nn::LossKind::bce, "probability intervals: member ", m, " has loss ", nn::to_string(p.loss),
               "; logit intervals are for binary (bce) members");
    HPCT_CHECK(p.n == s.n && p.width == s.width && p.prob.size() == size, "probability intervals: member ", m,
               " predicts [", p.n, ", ", p.width, "], member 0 [", s.n, ", ", s.width, "]");
  }
  s.mean.assign(size, 0.0);
  s.var.assign(size, 0.0);
  for (const Predictions& p : members)
    for (std::size_t i = 0; i < size; ++i) s.mean[i] += logit(p.prob[i]);
  const double M = static_cast<double>(members.size());
  for (double& v : s.mean) v /= M;
  if (members.size() < 2) return s;
  for (const Predictions& p : members)
    for (std::size_t i = 0; i < size; ++i) {
      const double d = logit(p.prob[i]) - s.mean[i];
      s.var[i] += d * d;
    }
  for (double& v : s.var) v /= M - 1.0;
  return s;
}

Intervals logit_intervals(const LogitSpread& s, const std::vector<double>& levels, double inflation) {
  check_levels(levels);
  HPCT_CHECK(std::isfinite(inflation) && inflation > 0, "probability intervals: inflation must be positive, got ",
             inflation);
  Intervals iv;
  iv.levels = levels, iv.n = s.n, iv.width = s.width;
  for (double a : levels) {
    const double z = (s.df > 0 ? student_t_two_sided(a, s.df) : normal_quantile(0.5 * (1.0 + a))) * inflation;
    std::vector<double> lo(s.mean.size()), hi(s.mean.size());
    for (std::size_t i = 0; i < s.mean.size(); ++i) {
      const double h = z * std::sqrt(s.var[i]);
      lo[i] = sigmoid(s.mean[i] - h), hi[i] = sigmoid(s.mean[i] + h);
    }
    iv.lower.push_back(std::move(lo)), iv.upper.push_back(std::move(hi));
  }
  return iv;
}

double fit_logit_inflation(const LogitSpread& s, const std::vector<float>& y) {
  HPCT_CHECK(y.size() == s.mean.size() && !y.empty(), "logit inflation: ", y.size(), " calibration labels for ",
             s.mean.size(), " predictions");
  // Coarse grid on log k, then golden section around the best point (the likelihood is smooth in k).
  const double lo_end = std::log(0.05), hi_end = std::log(20.0);
  const int grid = 40;
  int best = 0;
  double best_ll = -1e300;
  for (int g = 0; g <= grid; ++g) {
    const double ll = log_likelihood(s, y, std::exp(lo_end + (hi_end - lo_end) * g / grid));
    if (ll > best_ll) best_ll = ll, best = g;
  }
  const double step = (hi_end - lo_end) / grid;
  double a = std::max(lo_end, lo_end + (best - 1) * step), b = std::min(hi_end, lo_end + (best + 1) * step);
  const double r = (std::sqrt(5.0) - 1.0) / 2.0;
  for (int it = 0; it < 60; ++it) {
    const double c = b - r * (b - a), d = a + r * (b - a);
    if (log_likelihood(s, y, std::exp(c)) >= log_likelihood(s, y, std::exp(d))) b = d; else a = c;
  }
  return std::exp(0.5 * (a + b));
}

namespace {

// Per row: the pair means' sample variance B (P - 1 degrees of freedom) and the within-pair variance
// W = (1/(2P)) sum_j (l_2j - l_2j+1)^2 of members in pairs 2j, 2j+1 (probability_intervals.hpp).
struct PairSpread {
  LogitSpread members;           // all members' lbar, s^2 (also checks their shapes)
  std::vector<double> between, within;
};

PairSpread pair_spread(const std::vector<Predictions>& members) {
  const std::size_t M = members.size();
  HPCT_CHECK(M >= 4 && M % 2 == 0, "bootstrap pairs: the ensemble has ", M,
             " members; pairs need an even number, at least 4");
  PairSpread ps{logit_spread(members), {}, {}};
  const std::size_t size = ps.members.mean.size(), pairs = M / 2;
  ps.between.assign(size, 0.0);
  ps.within.assign(size, 0.0);
  for (std::size_t i = 0; i < size; ++i) {
    for (std::size_t j = 0; j < M; j += 2) {
      const double a = logit(members[j].prob[i]), b = logit(members[j + 1].prob[i]);
      const double c = 0.5 * (a + b) - ps.members.mean[i];  // lbar is also the pair means' mean
      ps.between[i] += c * c;
      ps.within[i] += (a - b) * (a - b);
    }
    ps.between[i] /= static_cast<double>(pairs - 1);
    ps.within[i] /= static_cast<double>(M);  // (1/(2P)) sum_j d_j^2
  }
  return ps;
}

}  // namespace

PairInflation pair_inflation(const std::vector<Predictions>& members) {
  const PairSpread ps = pair_spread(members);  // checks the member count and shapes
  double within = 0, total = 0;
  for (std::size_t i = 0; i < ps.within.size(); ++i) within += ps.within[i], total += ps.members.var[i];
  HPCT_CHECK(total > 0, "bootstrap pairs: the members predict identical logits; no spread to scale");
  const double m = static_cast<double>(members.size()), pairs = m / 2;
  const double v_data = std::max(0.0, total - within) * (m - 1) / (m - 2);
  return {std::sqrt((v_data * (1 + 1 / pairs) + within / m) / total), within / total};
}

LogitSpread bagged_spread(const std::vector<Predictions>& members) {
  PairSpread ps = pair_spread(members);
  const double pairs = static_cast<double>(members.size() / 2);
  LogitSpread out = std::move(ps.members);
  out.df = static_cast<int>(pairs) - 1;
  for (std::size_t i = 0; i < out.var.size(); ++i)
    out.var[i] = std::max(0.0, ps.between[i] - 0.5 * ps.within[i]) + ps.between[i] / pairs;
  return out;
}

}  // namespace hpct::train
