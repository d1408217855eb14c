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
