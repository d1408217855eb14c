// Logit-scale intervals of binary ensembles and the inflation factor fitted on labels
// (train/probability_intervals.hpp).
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/error.hpp"
#include "train/probability_intervals.hpp"

using namespace hpct::train;

namespace {

Predictions bce(std::vector<float> prob) {
  Predictions p;
  p.loss = hpct::nn::LossKind::bce;
  p.n = static_cast<std::int64_t>(prob.size()), p.width = 1;
  p.prob = std::move(prob);
  return p;
}

double sigmoid(double l) { return 1.0 / (1.0 + std::exp(-l)); }

}  // namespace

TEST_CASE("logit intervals: sample spread of the members' logits, mapped back through the sigmoid") {
  // Row 0: logits -1, 0, 1 (mean 0, sample variance 1); row 1: all members 0.9 (no spread).
  const LogitSpread s = logit_spread({bce({static_cast<float>(sigmoid(-1)), 0.9f}), bce({0.5f, 0.9f}),
                                      bce({static_cast<float>(sigmoid(1)), 0.9f})});
  CHECK(s.mean[0] == doctest::Approx(0.0).epsilon(1e-6));
  CHECK(s.var[0] == doctest::Approx(1.0).epsilon(1e-6));
  CHECK(s.var[1] == doctest::Approx(0.0));
  const Intervals iv = logit_intervals(s, {0.95}, 2.0);
  CHECK(iv.lower[0][0] == doctest::Approx(sigmoid(-2 * 1.959963984540054)).epsilon(1e-6));
  CHECK(iv.upper[0][0] == doctest::Approx(sigmoid(2 * 1.959963984540054)).epsilon(1e-6));
  CHECK(iv.lower[0][1] == doctest::Approx(0.9).epsilon(1e-6));
  CHECK(iv.upper[0][1] == doctest::Approx(0.9).epsilon(1e-6));
  CHECK_THROWS_AS(logit_spread({bce({0.5f}), bce({0.5f, 0.5f})}), hpct::Error);
}

TEST_CASE("fit_logit_inflation recovers the spread that generated the labels") {
  // True logit l ~ N(lbar, k0^2 s^2), y ~ Bernoulli(sigmoid(l)): the fitted k is near k0.
  for (double k0 : {0.5, 1.0, 2.0}) {
    std::mt19937_64 gen(42);
    std::normal_distribution<double> normal;
    std::uniform_real_distribution<double> uniform;
    LogitSpread s;
    s.n = 200000, s.width = 1;
    std::vector<float> y;
    for (std::int64_t i = 0; i < s.n; ++i) {
      const double lbar = 3.0 * normal(gen), sd = 1.0 + uniform(gen);
      s.mean.push_back(lbar), s.var.push_back(sd * sd);
      y.push_back(uniform(gen) < sigmoid(lbar + k0 * sd * normal(gen)) ? 1.0f : 0.0f);
    }
    const double k = fit_logit_inflation(s, y);
    CAPTURE(k0);
    CHECK(k == doctest::Approx(k0).epsilon(0.15));
  }
}

TEST_CASE("pair_inflation: the members' spread less the seeds' noise, from bootstrap pairs") {
  // One row, pairs (1.5, 0.5) and (-0.5, -1.5): W = (1/4)(1 + 1) = 0.5, s^2 = 5/3, v_data =
  // (5/3 - 0.5) 3/2 = 1.75, k^2 = (1.75 (1 + 1/2) + 0.5 / 4) / (5/3) = 1.65.
  std::vector<Predictions> four;
  for (double l : {1.5, 0.5, -0.5, -1.5}) four.push_back(bce({static_cast<float>(sigmoid(l))}));
  CHECK(pair_inflation(four).k == doctest::Approx(std::sqrt(1.65)).epsilon(1e-5));
  CHECK(pair_inflation(four).seed_share == doctest::Approx(0.3).epsilon(1e-5));
  // 50 members on 4000 rows: l = g_pair + e_member, g ~ N(0, v_data), e ~ N(0, v_seed). The centre's
  // error variance is v_data (1 + 1/25) + v_seed / 50, the members' variance about v_data + v_seed.
  for (double v_seed : {0.0, 1.0, 3.0}) {
    std::mt19937_64 gen(7);
    std::normal_distribution<double> normal;
    const double v_data = 1.0;
    std::vector<std::vector<float>> prob(50, std::vector<float>(4000));
    for (std::size_t i = 0; i < 4000; ++i)
      for (std::size_t j = 0; j < 50; j += 2) {
        const double g = std::sqrt(v_data) * normal(gen);
        for (std::size_t m : {j, j + 1}) prob[m][i] = static_cast<float>(sigmoid(g + std::sqrt(v_seed) * normal(gen)));
      }
    std::vector<Predictions> members;
    for (auto& p : prob) members.push_back(bce(std::move(p)));
    const double want = std::sqrt((v_data * (1 + 1.0 / 25) + v_seed / 50) / (v_data * 48.0 / 49.0 + v_seed));
    CAPTURE(v_seed);
    const PairInflation got = pair_inflation(members);
    CHECK(got.k == doctest::Approx(want).epsilon(0.03));
    CHECK(got.seed_share == doctest::Approx(v_seed / (v_data * 48.0 / 49.0 + v_seed)).epsilon(0.05));
  }
  CHECK_THROWS_AS(pair_inflation({four[0], four[1], four[2]}), hpct::Error);  // odd
  CHECK_THROWS_AS(pair_inflation({four[0], four[1]}), hpct::Error);           // one pair: no data spread
}

TEST_CASE("bagged_spread: the resamples' spread plus the Monte Carlo error, Student t on P - 1 df") {
  // One row, pairs (1.5, 0.5) and (-0.5, -1.5): pair means 1 and -1, B = 2, W = (1/4)(1 + 1) = 0.5,
  // V = (2 - 0.25) + 2 / 2 = 2.75 on 1 degree of freedom.
  std::vector<Predictions> four;
  for (double l : {1.5, 0.5, -0.5, -1.5}) four.push_back(bce({static_cast<float>(sigmoid(l))}));
  const LogitSpread b = bagged_spread(four);
  CHECK(b.mean[0] == doctest::Approx(0.0).epsilon(1e-6));
  CHECK(b.var[0] == doctest::Approx(2.75).epsilon(1e-5));
  CHECK(b.df == 1);
  const Intervals iv = logit_intervals(b, {0.95});
  CHECK(iv.upper[0][0] == doctest::Approx(sigmoid(12.706204736432095 * std::sqrt(2.75))).epsilon(1e-5));
  CHECK_THROWS_AS(bagged_spread({four[0], four[1], four[2]}), hpct::Error);  // odd
  CHECK_THROWS_AS(bagged_spread({four[0], four[1]}), hpct::Error);           // one pair

  // The bootstrap's model: the bagged centre misses the true logit l by D ~ N(0, v_data) (the
  // data set drawn), resample j adds g_j ~ N(0, v_data), each member's seed e ~ N(0, v_seed). The
  // t interval covers l at about its level (94.2% in numpy: V, a difference of B and W, is a little
  // noisier than a chi-square on P - 1 df); without the Monte Carlo term B/P it covers 93.0%, with
  // the normal quantile on the same V, ignoring that V is estimated from 10 pairs, 91%.
  std::mt19937_64 gen(11);
  std::normal_distribution<double> normal;
  const std::size_t rows = 40000, M = 20;
  const double v_data = 0.5, v_seed = 0.1;
  std::vector<std::vector<float>> prob(M, std::vector<float>(rows));
  std::vector<double> truth(rows);
  for (std::size_t i = 0; i < rows; ++i) {
    truth[i] = 2.0 * normal(gen);
    const double centre = truth[i] + std::sqrt(v_data) * normal(gen);
    for (std::size_t j = 0; j < M; j += 2) {
      const double g = std::sqrt(v_data) * normal(gen);
      for (std::size_t m : {j, j + 1})
        prob[m][i] = static_cast<float>(sigmoid(centre + g + std::sqrt(v_seed) * normal(gen)));
    }
  }
  std::vector<Predictions> members;
  for (auto& p : prob) members.push_back(bce(std::move(p)));
  LogitSpread s = bagged_spread(members);
  CHECK(s.df == 9);
  const auto coverage = [&](const LogitSpread& spread) {
    const Intervals c = logit_intervals(spread, {0.95});
    std::size_t in = 0;
    for (std::size_t i = 0; i < rows; ++i) in += c.lower[0][i] <= sigmoid(truth[i]) && sigmoid(truth[i]) <= c.upper[0][i];
    return static_cast<double>(in) / static_cast<double>(rows);
  };
  CHECK(coverage(s) > 0.936);  // binomial sd 0.0012
  CHECK(coverage(s) < 0.95);
  s.df = 0;
  CHECK(coverage(s) < 0.925);
}
