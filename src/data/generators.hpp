#pragma once
// Synthetic data sets with known ground truth (gen-data). All are deterministic in the seed.
#include <cstdint>
#include <string>

#include "data/dataset.hpp"

namespace hpct::data {

struct GeneratorOptions {
  std::string kind = "heteroscedastic";  // heteroscedastic | two-gaussians | physics19
  std::int64_t n = 8192;
  std::int64_t features = 0;  // 0: the kind's default (heteroscedastic 4, two-gaussians 8, physics19 19)
  double separation = 2.0;    // two-gaussians: distance between the class means, in units of sigma
  std::uint64_t seed = 1;
};

// heteroscedastic: x ~ U(-1, 1)^F, y = f(x) + sigma(x) * e, e ~ N(0, 1), with
//   f(x) = sin(pi x0) + 0.5 x1^2 + 0.25 * sum_{j>=2} x_j,  sigma(x) = 0.1 + 0.2 (1 + x0).
//   Extras: /f, /sigma.
// two-gaussians: y ~ Bernoulli(1/2), x | y ~ N(+-(separation/2) u, I) with u = (1, .., 1)/sqrt(F).
//   The optimal (Neyman-Pearson / Bayes) classifier is linear: P(y=1 | x) = sigmoid(separation * u.x),
//   and its accuracy is Phi(separation / 2). Extra: /p_optimal. Task "binary".
// physics19: x ~ U(-1, 1)^19 standing in for physics parameters; two smooth targets
//   y0 = sum_i a_i sin(w_i x_i) + sum_(i,j) c_ij x_i x_j over a fixed sparse set of couplings,
//   y1 = exp(0.3 x0 - 0.2 x1) * cos(x2 + x3) + 0.1 * sum_i x_i^2, each plus N(0, 0.01^2) noise.
//   Extra: /f (noise-free targets [N, 2]).
Dataset generate(const GeneratorOptions& opt);

// Bayes accuracy of two-gaussians with this separation: Phi(separation / 2).
double two_gaussians_bayes_accuracy(double separation);

}  // namespace hpct::data
