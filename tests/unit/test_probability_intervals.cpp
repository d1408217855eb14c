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
