#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <numbers>
#include <vector>

#include "core/philox.hpp"
#include "test_support.hpp"
#include "train/uncertainty.hpp"

using namespace hpct::train;
using hpct::nn::LossKind;
using hpct::test::check_error;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
const double kHalfLog2Pi = 0.5 * std::log(2.0 * std::numbers::pi);

Predictions regression(LossKind loss, std::int64_t n, std::int64_t t, std::vector<float> mean,
                       std::vector<float> var = {}) {
  Predictions p;
  p.loss = loss;
  p.n = n;
  p.width = t;
  p.mean = std::move(mean);
  p.var = std::move(var);
  return p;
}

Predictions probabilities(LossKind loss, std::int64_t n, std::int64_t width, std::vector<float> prob) {
  Predictions p;
  p.loss = loss;
  p.n = n;
  p.width = width;
  p.prob = std::move(prob);
  return p;
}

// Standard normal number i of a stream (Box-Muller on two Philox uniforms; 1 - u avoids log 0).
double normal(std::uint64_t seed, std::uint64_t stream, std::uint64_t i) {
  const double u1 = 1.0 - hpct::philox_uniform(seed, stream, 2 * i);
  const double u2 = hpct::philox_uniform(seed, stream, 2 * i + 1);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

// Heteroscedastic data like gen-data's: x ~ U(-1, 1), y = sin(pi x) + sigma(x) e, sigma = 0.1 + 0.2 (1 + x).
// The predictions are the true mean with a wrong std: sigma_factor * sigma(x), or with `constant`
// sigma_factor * 0.3 (the mean of sigma) everywhere, which also misses the shape.
struct Synthetic {
  std::vector<double> mean, var;
  std::vector<float> y;
};
Synthetic synthetic(std::int64_t n, double sigma_factor, std::uint64_t seed, bool constant = false) {
  Synthetic s;
  for (std::int64_t i = 0; i < n; ++i) {
    const double x = 2.0 * hpct::philox_uniform(seed, 0, static_cast<std::uint64_t>(i)) - 1.0;
    const double mu = std::sin(std::numbers::pi * x), sigma = 0.1 + 0.2 * (1.0 + x);
    const double predicted_std = sigma_factor * (constant ? 0.3 : sigma);
    s.mean.push_back(mu);
    s.var.push_back(predicted_std * predicted_std);
    s.y.push_back(static_cast<float>(mu + sigma * normal(seed, 1, static_cast<std::uint64_t>(i))));
  }
  return s;
}

}  // namespace

TEST_CASE("combine_members: Gaussian members form the mixture (mean of means, mean of variances + variance of means)") {
  // Two members, two samples, one target. Sample 0: means 1 and 3, variances 0.5 and 1.5:
  //   mean 2, aleatoric 1, epistemic ((1-2)^2 + (3-2)^2) / 2 = 1, var 2
  //   (= E[X^2] - E[X]^2 of the mixture: (0.5 + 1 + 1.5 + 9) / 2 - 4 = 2).
  // Sample 1: both N(0, 1): mean 0, var 1, epistemic 0.
  const auto e = combine_members({regression(LossKind::gaussian_nll, 2, 1, {1, 0}, {0.5f, 1}),
                                  regression(LossKind::gaussian_nll, 2, 1, {3, 0}, {1.5f, 1})});
  CHECK(e.members == 2);
  CHECK(e.mean == std::vector<double>{2, 0});
  CHECK(e.aleatoric == std::vector<double>{1, 1});
  CHECK(e.epistemic == std::vector<double>{1, 0});
  CHECK(e.var == std::vector<double>{2, 1});

  // Three members, one sample, two targets: means (0, 1), (3, 1), (6, 4); variances (1, 2), (2, 2), (3, 5).
  //   target 0: mean 3, epistemic (9 + 0 + 9) / 3 = 6, aleatoric 2, var 8
  //   target 1: mean 2, epistemic (1 + 1 + 4) / 3 = 2, aleatoric 3, var 5
  const auto f = combine_members({regression(LossKind::gaussian_nll, 1, 2, {0, 1}, {1, 2}),
                                  regression(LossKind::gaussian_nll, 1, 2, {3, 1}, {2, 2}),
                                  regression(LossKind::gaussian_nll, 1, 2, {6, 4}, {3, 5})});
  CHECK(f.mean == std::vector<double>{3, 2});
  CHECK(f.epistemic == std::vector<double>{6, 2});
  CHECK(f.aleatoric == std::vector<double>{2, 3});
  CHECK(f.var == std::vector<double>{8, 5});
}

TEST_CASE("combine_members: MSE members give the spread of means only; probabilities are averaged") {
  const auto e = combine_members({regression(LossKind::mse, 1, 2, {0, 1}), regression(LossKind::mse, 1, 2, {3, 1}),
                                  regression(LossKind::mse, 1, 2, {6, 4})});
  CHECK(e.mean == std::vector<double>{3, 2});
  CHECK(e.var == std::vector<double>{6, 2});  // population variance of the means
  CHECK(e.aleatoric == std::vector<double>{0, 0});
  CHECK(combine_members({regression(LossKind::mse, 1, 1, {5})}).var == std::vector<double>{0});  // one member

  const auto b = combine_members({probabilities(LossKind::bce, 2, 1, {0.25f, 0.75f}),
                                  probabilities(LossKind::bce, 2, 1, {0.5f, 1.0f})});
  CHECK(b.prob == std::vector<double>{0.375, 0.875});
  CHECK(b.mean.empty());

  // ce, 3 classes: (0.5, 0.25, 0.25) and (0, 0.75, 0.25) -> (0.25, 0.5, 0.25), label 1; a tie
  // (0.5, 0.5, 0) goes to the first class.
  const auto c = combine_members({probabilities(LossKind::ce, 2, 3, {0.5f, 0.25f, 0.25f, 0.5f, 0.5f, 0}),
                                  probabilities(LossKind::ce, 2, 3, {0, 0.75f, 0.25f, 0.5f, 0.5f, 0})});
  CHECK(c.prob == std::vector<double>{0.25, 0.5, 0.25, 0.5, 0.5, 0});
  CHECK(c.label == std::vector<std::int32_t>{1, 0});
}

TEST_CASE("combine_members: no members, or members that disagree in loss or shape, are named errors") {
  check_error([] { combine_members({}); }, {"no members", "--ensemble.members"});
  check_error(
      [] {
        combine_members({regression(LossKind::mse, 1, 1, {0}), regression(LossKind::gaussian_nll, 1, 1, {0}, {1})});
      },
      {"member 1", "gaussian-nll", "mse"});
  check_error([] { combine_members({regression(LossKind::mse, 1, 1, {0}), regression(LossKind::mse, 2, 1, {0, 1})}); },
              {"member 1", "[2, 1]", "[1, 1]"});
  check_error([] { combine_members({regression(LossKind::gaussian_nll, 2, 1, {0, 1}, {1})}); },
              {"member 0 var", "1 values"});
}

TEST_CASE("normal_quantile: AS241 matches 30-digit references to 1e-9 (and in fact 1e-14)") {
  // References: mpmath, sqrt(2) erfinv(2p - 1) at the double nearest each p (dps 50).
  struct Ref {
    double p, x;
  };
  const Ref refs[] = {{0.5, 0.0},
                      {0.3, -0.52440051270804081597},
                      {0.84, 0.99445788320975316774},
                      {0.9, 1.281551565544600467},
                      {0.975, 1.9599639845400538556},
                      {0.995, 2.575829303548900761},
                      {0.05, -1.6448536269514727149},
                      {0.02425, -1.9729610513118848376},
                      {1e-10, -6.3613409024040562047},
                      {1e-12, -7.0344838253011319326},
                      {0.999999999999, 7.0344869100478352057},
                      {1e-20, -9.2623400897984075796},  // beyond r = 5: AS241's third range
                      {1e-300, -37.047096299361199237}};
  for (const Ref& r : refs) {
    CAPTURE(r.p);
    CHECK(std::abs(normal_quantile(r.p) - r.x) <= 1e-9);
    CHECK(std::abs(normal_quantile(r.p) - r.x) <= 1e-14 * std::max(1.0, std::abs(r.x)));
  }
  // Round trip through Phi, over 1e-15 .. 1 - 1e-15.
  for (double lp = -15; lp <= -0.01; lp += 0.05) {
    const double p = std::pow(10.0, lp);
    CAPTURE(p);
    CHECK(std::abs(normal_cdf(normal_quantile(p)) - p) <= 1e-13 * p);
    CHECK(normal_quantile(1.0 - p) == doctest::Approx(-normal_quantile(p)).epsilon(1e-15 / p + 1e-13));
  }
  CHECK(normal_quantile(0.0) == -kInf);
  CHECK(normal_quantile(1.0) == kInf);
  CHECK(std::isnan(normal_quantile(1.5)));
  CHECK(std::isnan(normal_quantile(-0.1)));
  CHECK(normal_cdf(1.959963984540054) == doctest::Approx(0.975).epsilon(1e-15));
}

TEST_CASE("student_t_two_sided: the closed form for integer df matches scipy.stats.t.ppf") {
  struct Ref {
    double a;
    int df;
    double t;
  };
  // scipy.stats.t.ppf(0.5 + a / 2, df)
  for (const Ref& r : {Ref{0.95, 1, 12.706204736432095}, Ref{0.95, 2, 4.302652729911275},
                       Ref{0.95, 9, 2.2621571627409915}, Ref{0.95, 24, 2.0638985616280205},
                       Ref{0.5, 3, 0.764892328080891}, Ref{0.99, 7, 3.4994832973505026},
                       Ref{0.95, 1000, 1.9623390808264074}}) {
    CAPTURE(r.df);
    CHECK(student_t_two_sided(r.a, r.df) == doctest::Approx(r.t).epsilon(1e-9));
  }
  CHECK_THROWS_AS(student_t_two_sided(0.95, 0), hpct::Error);
  CHECK_THROWS_AS(student_t_two_sided(1.0, 5), hpct::Error);
}

TEST_CASE("intervals: coverage, mean width and Gaussian NLL of a 4-sample example by hand") {
  const std::vector<double> mean{0, 0, 0, 0}, var{1, 1, 4, 4};
  const std::vector<float> y{0.5f, 1.5f, -3, 1};
  // Level 2 Phi(1) - 1: z = 1, intervals [-1, 1], [-1, 1], [-2, 2], [-2, 2]; y in, out, out, in.
  // Level 0.95: z = 1.95996..: +-1.96, +-1.96, +-3.92, +-3.92 cover all four.
  const double one_sigma = 2 * normal_cdf(1.0) - 1, z95 = 1.959963984540054;
  const auto iv = gaussian_intervals(mean, var, 1, {one_sigma, 0.95});
  REQUIRE(iv.lower.size() == 2);
  CHECK(iv.upper[0][2] == doctest::Approx(2.0).epsilon(1e-14));
  CHECK(iv.lower[1][0] == doctest::Approx(-z95).epsilon(1e-14));
  const auto s = score_intervals(iv, y);
  REQUIRE(s.size() == 2);
  CHECK(s[0].level == one_sigma);
  CHECK(s[0].coverage == 0.5);
  CHECK(s[0].mean_width == doctest::Approx(3.0).epsilon(1e-14));  // (2 + 2 + 4 + 4) / 4
  CHECK(s[1].coverage == 1.0);
  CHECK(s[1].mean_width == doctest::Approx(3.0 * z95).epsilon(1e-14));
  // Bounds are inclusive.
  CHECK(score_intervals(gaussian_intervals({0}, {1}, 1, {one_sigma}), {1.0f})[0].coverage == 1.0);

  // NLL: 0.5 log 2pi + 0.5 log var + e^2 / (2 var):
  //   (c + 0.125) + (c + 1.125) + (c + log 2 + 1.125) + (c + log 2 + 0.125), over 4
  //   = c + (log 2) / 2 + 0.625 = 1.8905121234846454
  CHECK(gaussian_nll(mean, var, y) == doctest::Approx(kHalfLog2Pi + 0.5 * std::log(2.0) + 0.625).epsilon(1e-14));
  CHECK(gaussian_nll(mean, var, y) == doctest::Approx(1.8905121234846454).epsilon(1e-14));
  CHECK(gaussian_nll({0}, {0}, {1.0f}) == kInf);

  // Two targets: per-element scales.
  const auto two = scaled_intervals({1, 2, 3, 4}, {1, 4, 1, 4}, 2, {0.5}, {{1.0, 10.0}});
  CHECK(two.n == 2);
  CHECK(two.upper[0] == std::vector<double>{2, 22, 4, 24});
}

TEST_CASE("calibration table: 10 nominal levels; well-specified variances are calibrated, halved ones are not") {
  CHECK(calibration_levels() == std::vector<double>{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95});
  const Synthetic good = synthetic(20000, 1.0, 11);
  const auto table = calibration_table(good.mean, good.var, 1, good.y);
  REQUIRE(table.size() == 10);
  for (const auto& row : table) {
    CAPTURE(row.level);
    CHECK(std::abs(row.coverage - row.level) < 0.015);
  }
  CHECK(calibration_error(table) < 0.01);

  // Hand check on the 4 samples above: coverage at each level is the fraction with |y - mean| / std <= z.
  // Normalised residuals 0.5, 1.5, 1.5, 0.5: z(0.1) = 0.126, .., z(0.3) = 0.385 cover none;
  // z(0.4) = 0.524, .., z(0.8) = 1.28 cover two; z(0.9) = 1.645, z(0.95) = 1.96 all four.
  const auto small = calibration_table({0, 0, 0, 0}, {1, 1, 4, 4}, 1, {0.5f, 1.5f, -3, 1});
  const double expected[] = {0, 0, 0, 0.5, 0.5, 0.5, 0.5, 0.5, 1, 1};
  for (std::size_t k = 0; k < 10; ++k) CHECK(small[k].coverage == expected[k]);
  // mean |observed - nominal| = (0.1 + 0.2 + 0.3 + 0.1 + 0 + 0.1 + 0.2 + 0.3 + 0.1 + 0.05) / 10
  CHECK(calibration_error(small) == doctest::Approx(0.145).epsilon(1e-12));
}

TEST_CASE("classification: Brier score, expected calibration error, probability MAE by hand") {
  // Binary: p = 0.9, 0.75, 0.3, 0.62 with labels 1, 0, 0, 1.
  const std::vector<double> p{0.9, 0.75, 0.3, 0.62};
  const std::vector<float> y{1, 0, 0, 1};
  // Brier: (0.01 + 0.5625 + 0.09 + 0.1444) / 4
  CHECK(brier_score(p, y) == doctest::Approx(0.201725).epsilon(1e-12));
  // Top-label confidences 0.9 (right), 0.75 (wrong), 0.7 (predicted 0, right), 0.62 (right) fall in
  // bins 14, 12, 11, 10 of 15 (1-based), one each: ECE = (0.1 + 0.75 + 0.3 + 0.38) / 4.
  CHECK(expected_calibration_error(p, y) == doctest::Approx(0.3825).epsilon(1e-12));
  // One bin: |accuracy 3/4 - mean confidence 2.97/4|.
  CHECK(expected_calibration_error(p, y, 1) == doctest::Approx(0.0075).epsilon(1e-9));
  // Two samples in one bin (0.91, 0.92 -> bin 14): |0.5 - 0.915|, not the per-sample (0.09 + 0.92) / 2.
  CHECK(expected_calibration_error({0.91, 0.92}, {1, 0}) == doctest::Approx(0.415).epsilon(1e-12));

  // Classification, 3 classes; the third row is unlabelled (-1) and skipped.
  const std::vector<double> pc{0.7, 0.2, 0.1, 0.2, 0.5, 0.3, 0.1, 0.1, 0.8};
  const std::vector<std::int32_t> labels{0, 2, -1};
  // Brier: row 0: 0.3^2 + 0.2^2 + 0.1^2 = 0.14; row 1: 0.2^2 + 0.5^2 + 0.7^2 = 0.78; mean 0.46.
  CHECK(brier_score(pc, 3, labels) == doctest::Approx(0.46).epsilon(1e-12));
  // ECE: confidence 0.7 right (bin 11), 0.5 wrong (bin 8): (0.3 + 0.5) / 2.
  CHECK(expected_calibration_error(pc, 3, labels) == doctest::Approx(0.4).epsilon(1e-12));

  CHECK(probability_mae({0.2, 0.9}, {0.25f, 0.8f}) == doctest::Approx(0.075).epsilon(1e-6));

  check_error([] { brier_score({0.5}, {1.0f, 0.0f}); }, {"brier score: y", "2 values", "1"});
  check_error([] { brier_score({0.5, 0.5}, 2, {3}); }, {"row 0", "label 3"});
  check_error([] { expected_calibration_error({0.5}, {1.0f}, 0); }, {"0 bins"});
}

TEST_CASE("uq levels outside (0, 1) and mismatched sizes are named errors") {
  for (double bad : {0.0, 1.0, 1.5, -0.2, 95.0}) {
    CAPTURE(bad);
    check_error([&] { check_levels({0.68, bad}); }, {"--uq.levels", hpct::cat(bad), "outside (0, 1)"});
  }
  check_error([] { check_levels({std::numeric_limits<double>::quiet_NaN()}); }, {"--uq.levels", "nan"});
  check_error([] { check_levels({}); }, {"--uq.levels", "empty"});
  check_error([] { gaussian_intervals({0, 1}, {1}, 1, {0.9}); }, {"var", "1 values", "2"});
  check_error([] { gaussian_intervals({0, 1, 2}, {1, 1, 1}, 2, {0.9}); }, {"3 values", "rows of 2"});
  check_error([] { score_intervals(gaussian_intervals({0}, {1}, 1, {0.9}), {1.0f, 2.0f}); }, {"y", "2 values"});
  check_error([] { fit_conformal({0}, {1}, 1, {0.5f}, {2.0}); }, {"--uq.levels", "2"});
}

TEST_CASE("conformal: the quantile index ceil((n + 1) a) on small n") {
  CHECK(conformal_rank(19, 0.95) == 19);  // 20 * 0.95 = 19 exactly, not pushed to 20 by rounding
  CHECK(conformal_rank(9, 0.9) == 9);
  CHECK(conformal_rank(4, 0.5) == 3);     // ceil(2.5)
  CHECK(conformal_rank(99, 0.9) == 90);
  CHECK(conformal_rank(100, 0.9) == 91);  // ceil(90.9)
  CHECK(conformal_rank(1000, 0.95) == 951);
  CHECK(conformal_rank(999999, 0.95) == 950000);   // 10^6 * 0.95
  CHECK(conformal_rank(1000000, 0.95) == 950001);  // ceil(950000.95)
  CHECK(conformal_rank(18, 0.95) == 19);  // > n: the interval is the whole line

  const std::vector<double> s{5, 1, 4, 2, 3};
  CHECK(conformal_quantile(s, 0.5) == 3);  // k = 3
  CHECK(conformal_quantile(s, 0.6) == 4);  // ceil(3.6) = 4
  CHECK(conformal_quantile(s, 0.8) == 5);  // k = 5 = n
  CHECK(conformal_quantile(s, 0.9) == kInf);  // ceil(5.4) = 6 > 5
  check_error([] { conformal_quantile({}, 0.9); }, {"calibration split is empty"});

  // Normalised residuals: mean 0, std 2, y = 1, -2, 6, 0.5, -3 -> 0.5, 1, 3, 0.25, 1.5; sorted
  // 0.25, 0.5, 1, 1.5, 3: level 0.5 -> 1, 0.8 -> 3, 0.9 -> inf. Second target: std 1, residuals 0..4.
  const std::vector<double> mean(10, 0.0);
  std::vector<double> var;
  std::vector<float> y;
  const float y0[] = {1, -2, 6, 0.5f, -3}, y1[] = {0, 1, 2, 3, 4};
  for (int r = 0; r < 5; ++r) {
    var.insert(var.end(), {4.0, 1.0});
    y.insert(y.end(), {y0[r], y1[r]});
  }
  const auto c = fit_conformal(mean, var, 2, y, {0.5, 0.8, 0.9});
  CHECK(c.n == 5);
  CHECK(c.scale[0] == std::vector<double>{1, 2});
  CHECK(c.scale[1] == std::vector<double>{3, 4});
  CHECK(c.scale[2] == std::vector<double>{kInf, kInf});
  // Applied to a test row with mean (10, 0) and variances (9, 0): 10 +- 3 q; a zero std keeps a
  // point interval unless q is infinite.
  const auto iv = conformal_intervals({10, 0}, {9, 0}, 2, c);
  CHECK(iv.lower[0] == std::vector<double>{7, 0});
  CHECK(iv.upper[1] == std::vector<double>{19, 0});
  CHECK(iv.lower[2] == std::vector<double>{-kInf, -kInf});
  CHECK(score_intervals(iv, {100.0f, 5.0f})[2].coverage == 1.0);
  CHECK(score_intervals(iv, {100.0f, 5.0f})[2].mean_width == kInf);

  check_error([] { fit_conformal({0, 0}, {1, 0}, 1, {0.0f, 1.0f}, {0.9}); }, {"row 1", "target 0", "variance 0"});
  check_error([] { conformal_intervals({0, 0}, {1, 1}, 2, fit_conformal({0}, {1}, 1, {0.0f}, {0.9})); },
              {"2 targets", "calibration had 1"});
}

TEST_CASE("conformal restores nominal coverage of mis-scaled variances (20000 calibration + 20000 test rows)") {
  // Measured (seeds 101 / 202): predicted std x0.5: naive 0.377, 0.588, 0.673 at 0.68, 0.9, 0.95;
  // conformal 0.681, 0.897, 0.952. Normalised scores make conformal invariant to the std's scale, so
  // x2 gives the same conformal figures (naive 0.954, 0.999, 1.000). A constant std 0.3: naive 0.701,
  // 0.877, 0.922; conformal 0.679, 0.901, 0.950.
  const std::vector<double> levels{0.68, 0.9, 0.95};
  struct Case {
    double factor;
    bool constant;
  };
  for (const Case cs : {Case{0.5, false}, Case{2.0, false}, Case{1.0, true}}) {
    CAPTURE(cs.factor);
    CAPTURE(cs.constant);
    const Synthetic cal = synthetic(20000, cs.factor, 101, cs.constant);
    const Synthetic test = synthetic(20000, cs.factor, 202, cs.constant);
    const auto naive = score_intervals(gaussian_intervals(test.mean, test.var, 1, levels), test.y);
    const auto c = fit_conformal(cal.mean, cal.var, 1, cal.y, levels);
    const auto conformal = score_intervals(conformal_intervals(test.mean, test.var, 1, c), test.y);
    for (std::size_t k = 0; k < levels.size(); ++k) {
      CAPTURE(levels[k]);
      INFO("naive coverage " << naive[k].coverage << " (width " << naive[k].mean_width << "), conformal "
                             << conformal[k].coverage << " (width " << conformal[k].mean_width << ", scale "
                             << c.scale[k][0] << ")");
      CHECK(std::abs(conformal[k].coverage - levels[k]) <= 0.02);
      if (cs.constant) continue;  // right on average, wrong in shape: coverage holds only marginally
      // Naive intervals with half the std cover P(|e| <= z/2): 0.68 -> 0.38, 0.95 -> 0.67; with
      // twice the std, P(|e| <= 2z): 0.68 -> 0.95, 0.95 -> 0.9999.
      if (cs.factor < 1)
        CHECK(naive[k].coverage < levels[k] - 0.2);
      else
        CHECK(naive[k].coverage > levels[k] + 0.04);
      // The scale is about z / factor: the std is rescaled back to the true one.
      CHECK(c.scale[k][0] == doctest::Approx(normal_quantile(0.5 * (1 + levels[k])) / cs.factor).epsilon(0.03));
    }
    // The whole calibration table of the conformal intervals is within 2%.
    const auto table =
        score_intervals(conformal_intervals(test.mean, test.var, 1,
                                            fit_conformal(cal.mean, cal.var, 1, cal.y, calibration_levels())),
                        test.y);
    for (const auto& row : table) {
      CAPTURE(row.level);
      CHECK(std::abs(row.coverage - row.level) <= 0.02);
    }
  }
}
