#pragma once
// Intervals on a binary classifier ensemble's predicted probability (bce members), on the logit
// scale, and a variance inflation factor fitted on held-out labels.
//
// Member m predicts p_m(x); its logit is l_m = log(p_m / (1 - p_m)) (p clamped to [1e-7, 1 - 1e-7]).
// Over the M members, per row and target:
//   centre  lbar = (1/M) sum_m l_m
//   spread  s^2  = 1/(M - 1) sum_m (l_m - lbar)^2    (the sample variance: the members are draws of
//                                                     the estimator; 0 for one member)
// The interval at level a with inflation k is
//   [sigmoid(lbar - z k s), sigmoid(lbar + z k s)],  z = Phi^-1((1 + a) / 2),
// always inside (0, 1) and not symmetric in p where p is near 0 or 1, unlike p +- z sd(p). It covers
// the optimal probability when the members' spread is the sampling spread of the estimator: train
// them on bootstrap resamples (--ensemble.bootstrap) so that it includes the data's variability, not
// only the seed's.
#include <cstdint>
#include <vector>

#include "train/predictions.hpp"
#include "train/uncertainty.hpp"

namespace hpct::train {

struct LogitSpread {
  std::int64_t n = 0, width = 0;
  std::vector<double> mean, var;  // lbar, s^2 [n, T]
  int df = 0;  // > 0: var is an estimate on df degrees of freedom, intervals use Student t quantiles
};

// The members' logits' mean and sample variance; members must be bce predictions of equal shape
// (hpct::Error naming the member otherwise).
LogitSpread logit_spread(const std::vector<Predictions>& members);

// The intervals above at each level, spread scaled by `inflation` (> 0; 1 = naive); z is the
// Student t quantile on s.df degrees of freedom in place of the normal one when s.df > 0.
Intervals logit_intervals(const LogitSpread& s, const std::vector<double>& levels, double inflation = 1.0);

// Variance inflation fitted on a held-out calibration split with labels y in {0, 1} (never on the
// optimal probability, which real data does not have). The spread says the true logit is
// l ~ N(lbar, k^2 s^2); then P(y = 1) = E[sigmoid(l)] ~ sigmoid(lbar / sqrt(1 + pi k^2 s^2 / 8))
// (the probit approximation, MacKay 1992). k maximises the Bernoulli log-likelihood of the labels
// under that predictive probability: k > 1 when the ensemble is too sure (its probabilities too far
// from 1/2 for how often the labels disagree), k < 1 when it is not sure enough. Searched over
// [0.05, 20] (golden section on log k, after a coarse grid); rows with s = 0 carry no information.
double fit_logit_inflation(const LogitSpread& s, const std::vector<float>& y);

// Bootstrap pairs (train --ensemble.bootstrap-pairs): members 2j and 2j+1 train on the same rows and
// resample with different seeds. Member logit l = g(resample) + e(seed), Var g = v_data, Var e =
// v_seed. The members' variance s^2 holds both; the pairs separate them (one-way ANOVA, means over
// the rows):
//   W = mean (1/(2P)) sum_j (l_2j - l_2j+1)^2           E W   = v_seed
//   S = mean s^2                                         E S   = v_seed + v_data (M - 2) / (M - 1)
// The centre lbar's error variance is v_data + v_data / P + v_seed / M: the sampling spread the
// bootstrap stands for, the Monte Carlo error of averaging P resamples, the seeds' noise averaged
// over M members. So
//   k^2 = [(S - W) (M - 1) / (M - 2) (1 + 1/P) + W / M] / S,
// from the members alone: no labels, no calibration split. M = 2P members, P >= 2 (hpct::Error
// otherwise); W is computed from `members` in order, S from their spread. seed_share = W / S.
struct PairInflation {
  double k = 1.0, seed_share = 0.0;
};
PairInflation pair_inflation(const std::vector<Predictions>& members);

// The centre's own error variance per row, from the same pairs (predict --uq.calibrate bagged). The
// centre is the bagged mean of P resamples, lbar = (1/P) sum_j mbar_j with mbar_j = (l_2j + l_2j+1)/2.
// Per row, with P - 1 degrees of freedom between the pairs and P within them:
//   B = 1/(P - 1) sum_j (mbar_j - lbar)^2               E B = v_data + v_seed / 2
//   W = (1/(2P)) sum_j (l_2j - l_2j+1)^2                 E W = v_seed
// lbar's error is the bagged estimator's sampling error, whose variance the bootstrap estimates by
// the resamples' spread v_data = B - W/2 (the bootstrap principle: resamples vary about the sample as
// samples do about the population; the seeds' noise e averages out of the bagged estimator), plus the
// Monte Carlo error of averaging P resamples instead of all of them, Var(mbar_j) / P = B / P:
//   V = max(B - W/2, 0) + B / P.
// Unlike pair_inflation (one factor for all rows), V is per row, so the width follows each row's own
// data spread. V is estimated from the P pair means (W, on P more degrees of freedom, is a small
// part of it), so (lbar - l) / sqrt(V) is close to Student t on P - 1 degrees of freedom, not
// normal: with 10 pairs the 95% quantile is 2.26, not 1.96 (the finite-M correction). Returned as a
// LogitSpread (mean lbar, var V, df P - 1) for logit_intervals with inflation 1. Measured (README:
// Classifier intervals): the level holds across ensemble sizes, but the bootstrap over-states the
// bagged centre's error on MLPs (96-98% coverage at 95%).
// M = 2P members, P >= 2 (hpct::Error otherwise).
LogitSpread bagged_spread(const std::vector<Predictions>& members);

}  // namespace hpct::train
