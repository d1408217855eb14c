#pragma once
// Uncertainty of an ensemble's predictions, as pure functions on host vectors (original units, row
// major [n, T] like Predictions): combining members, intervals at requested levels, their metrics
// against the truth, and split-conformal calibration of the intervals.
//
// Combination, per sample and target, over M members (population moments: divide by M, not M - 1,
// because the mixture's variance is exactly that):
//   gaussian-nll  members N(mu_m, v_m); the ensemble is the equal-weight mixture (1/M) sum_m N(mu_m, v_m):
//                   mean      = (1/M) sum_m mu_m
//                   aleatoric = (1/M) sum_m v_m                 (the noise the members predict)
//                   epistemic = (1/M) sum_m (mu_m - mean)^2     (their disagreement)
//                   var       = aleatoric + epistemic           (law of total variance)
//   mse           members give mu_m only: mean as above, var = epistemic (aleatoric 0); one member, or
//                 members that agree, give var 0 and zero-width intervals.
//   bce, ce       prob = (1/M) sum_m p_m (ce: label = argmax prob, the first on ties).
//
// Intervals are central Gaussian ones, mean +- z * std with z = Phi^-1((1 + level) / 2), unless a
// conformal calibration supplies the scale (see fit_conformal).
#include <cstdint>
#include <string>
#include <vector>

#include "nn/loss.hpp"
#include "train/predictions.hpp"

namespace hpct::train {

struct EnsemblePredictions {
  nn::LossKind loss = nn::LossKind::mse;
  std::int64_t n = 0, width = 0;  // width: T, or C for ce
  std::int64_t members = 0;
  std::vector<double> mean, var;             // regression [n, T]; var = aleatoric + epistemic
  std::vector<double> aleatoric, epistemic;  // regression [n, T]
  std::vector<double> prob;                  // bce [n, T], ce [n, C]
  std::vector<std::int32_t> label;           // ce [n]
};

// Throws hpct::Error for no members, or members that differ in loss, rows or width (naming the member).
EnsemblePredictions combine_members(const std::vector<Predictions>& members);

// ---- Normal distribution
// Phi(x) = erfc(-x / sqrt 2) / 2 (accurate in both tails).
double normal_cdf(double x);
// Phi^-1(p) for p in (0, 1) by Wichura's AS241 (PPND16): rational approximations in three ranges of
// p, relative error about 1e-16. Returns -inf / +inf at p = 0 / 1 and NaN outside [0, 1].
double normal_quantile(double p);

// ---- Student t
// The two-sided quantile t with P(|T| <= t) = a for T ~ Student t with df >= 1 (integer) degrees of
// freedom, a in (0, 1) (hpct::Error otherwise). For integer df, with theta = atan(t / sqrt(df)) and
// c = cos theta (Abramowitz & Stegun 26.7.3 and 26.7.4),
//   df odd:  P = (2/pi) [theta + sin theta (c + (2/3) c^3 + (2 4)/(3 5) c^5 + ... up to c^(df-2))]
//            (df = 1: P = 2 theta / pi)
//   df even: P = sin theta [1 + (1/2) c^2 + (1 3)/(2 4) c^4 + ... up to c^(df-2)],
// increasing in t; solved by bisection to double precision.
double student_t_two_sided(double a, int df);

// ---- Intervals
// Every level in (0, 1) and the list not empty; else hpct::Error naming --uq.levels and the value.
void check_levels(const std::vector<double>& levels);

struct Intervals {
  std::vector<double> levels;
  std::int64_t n = 0, width = 0;
  std::vector<std::vector<double>> lower, upper;  // [level][n * T]
};

// mean +- Phi^-1((1 + level) / 2) * sqrt(var) for each level; mean and var are [n, width].
Intervals gaussian_intervals(const std::vector<double>& mean, const std::vector<double>& var, std::int64_t width,
                             const std::vector<double>& levels);
// mean +- scale[k][c] * sqrt(var) for level k and target column c (an infinite scale gives the whole line).
Intervals scaled_intervals(const std::vector<double>& mean, const std::vector<double>& var, std::int64_t width,
                           const std::vector<double>& levels, const std::vector<std::vector<double>>& scale);

// ---- Metrics against the truth y [n, T]
struct IntervalScore {
  double level = 0;       // nominal coverage
  double coverage = 0;    // fraction of the n * T values with lower <= y <= upper
  double mean_width = 0;  // mean of upper - lower (infinite if any interval is)
};
std::vector<IntervalScore> score_intervals(const Intervals& iv, const std::vector<float>& y);

// Mean over the n * T values of the full Gaussian negative log-likelihood, the 0.5 log(2 pi) constant
// included (so it is comparable across tools; the training loss leaves it out and is in standardized
// units): 0.5 log(2 pi) + 0.5 log(var) + (y - mean)^2 / (2 var). A value with var <= 0 makes it +inf.
double gaussian_nll(const std::vector<double>& mean, const std::vector<double>& var, const std::vector<float>& y);

// The 10 nominal levels of the calibration table: 0.1, 0.2, .., 0.9 and 0.95.
std::vector<double> calibration_levels();
// Observed vs nominal coverage of the Gaussian central intervals at calibration_levels(). (For
// conformal intervals: score_intervals(conformal_intervals(..., fit_conformal(.., calibration_levels())), y).)
std::vector<IntervalScore> calibration_table(const std::vector<double>& mean, const std::vector<double>& var,
                                             std::int64_t width, const std::vector<float>& y);
// Mean over the rows of |observed - nominal|: 0 for a perfectly calibrated table.
double calibration_error(const std::vector<IntervalScore>& table);

// Binary (bce; prob and labels y in {0, 1} are [n, T], every value one prediction): Brier score
// mean (p - y)^2.
double brier_score(const std::vector<double>& prob, const std::vector<float>& y);
// Classification (ce; prob [n, C], labels [n]): the original multi-class Brier score
// (1/n) sum_i sum_c (p_ic - [y_i = c])^2, in [0, 2]. Rows labelled kIgnoreLabel (-1) are skipped.
double brier_score(const std::vector<double>& prob, std::int64_t classes, const std::vector<std::int32_t>& labels);

// Expected calibration error of the top-label confidence (Guo et al. 2017): confidence
// conf_i = max_c p_ic, predicted class argmax_c p_ic; B equal-width bins ((b-1)/B, b/B] of conf;
//   ECE = sum_b |B_b| / n * |acc_b - conf_b|
// with acc_b the accuracy and conf_b the mean confidence of the samples in bin b. Binary predictions
// are the two classes {1 - p, p} (predicted 1 when p > 0.5, as the accuracy metric does).
double expected_calibration_error(const std::vector<double>& prob, const std::vector<float>& y, int bins = 15);
double expected_calibration_error(const std::vector<double>& prob, std::int64_t classes,
                                  const std::vector<std::int32_t>& labels, int bins = 15);

// Mean |p - p_optimal|: on two-gaussians, how far the predicted probability is from the Bayes one
// (the data set's /p_optimal extra).
double probability_mae(const std::vector<double>& prob, const std::vector<float>& p_optimal);

// ---- Split-conformal calibration (regression)
// On a held-out calibration split of n rows, the normalised residuals of target column c are
//   s_i = |y_i - mean_i| / sqrt(var_i)
// and the scale for level a is q_a = s_(k), the k-th smallest, with k = ceil((n + 1) a). For
// exchangeable calibration and test rows, P(|y - mean| <= q_a sqrt(var)) >= a (and < a + 1/(n + 1)
// without ties): the finite-sample guarantee of split conformal prediction (Vovk et al.; Lei et al.
// 2018), which holds however wrong the predicted variances are in scale. When k > n (too few
// calibration rows for the level: n < a / (1 - a)) q_a = +inf, the interval is the whole line.
// Test intervals are mean +- q_a sqrt(var).

// k = ceil((n + 1) level), 1-based; may be n + 1 (meaning +inf). A product within a relative 1e-12 of
// an integer counts as that integer, so that 20 * 0.95 (19 exactly in decimal) is not pushed to 20
// by the binary rounding of 0.95.
std::int64_t conformal_rank(std::int64_t n, double level);
// The k-th smallest score (k from conformal_rank), or +inf when k > n.
double conformal_quantile(std::vector<double> scores, double level);

struct ConformalScales {
  std::vector<double> levels;
  std::int64_t n = 0, width = 0;            // calibration rows, targets
  std::vector<std::vector<double>> scale;  // q [level][target]
};
// Every var must be > 0 (else hpct::Error naming the row and target).
ConformalScales fit_conformal(const std::vector<double>& mean, const std::vector<double>& var, std::int64_t width,
                              const std::vector<float>& y, const std::vector<double>& levels);
Intervals conformal_intervals(const std::vector<double>& mean, const std::vector<double>& var, std::int64_t width,
                              const ConformalScales& c);

}  // namespace hpct::train
