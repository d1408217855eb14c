#pragma once
// Synthetic data sets with known ground truth (gen-data). All are deterministic in the seed.
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.hpp"

namespace hpct::data {

struct GeneratorOptions {
  // heteroscedastic | two-gaussians | physics19 | seq-window | seq-sum | seq-majority
  std::string kind = "heteroscedastic";
  std::int64_t n = 8192;
  std::int64_t features = 0;  // 0: the kind's default (heteroscedastic 4, two-gaussians 8, physics19 19)
  double separation = 2.0;    // two-gaussians: distance between the class means, in units of sigma
  std::uint64_t seed = 1;
  // Sequence kinds only:
  std::int64_t seq_len = 0;     // L, the longest sequence; 0: 64
  std::int64_t vocab_size = 0;  // V, the alphabet; 0: 20 (amino acids)
  std::string encoding = "tokens";  // tokens (/tokens [N, L]) | onehot (/X [N, L, V] floats)
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
//
// Sequence kinds: N rows of token sequences t over the alphabet {0, .., V-1}, each of length
// len ~ U{ceil(L/4), .., L} (stored in /lengths; positions >= len are padding: token 0, label -1),
// tokens i.i.d. uniform. With encoding "onehot" the same tokens are written as /X [N, L, V] one-hot
// rows (zeros at padding) instead of /tokens, for the per-position feature path.
// seq-window: per-token classification, 3 classes, target_level "token":
//   label[i] = (t[i-1] + 2 t[i] + t[i+1]) mod 3 for i < len, with t[-1] = t[len] = 0.
//   Deterministic (Bayes accuracy 1); position i depends on its right neighbour, so the model must
//   attend both ways (no causal mask). A 1-2 layer transformer reaches > 0.95 per-token accuracy;
//   guessing from t[i] alone gives about 0.35.
// seq-sum: per-sequence regression: y = mean_{i < len} cos(t[i]) (radians), no noise. Mean pooling of
//   a learnt per-token value fits it exactly: R2 > 0.95 is a reachable threshold.
// seq-majority: per-token binary classification (2 classes), target_level "token": label[i] = 1 when
//   of the valid tokens within distance kMajorityHalfWidth = 7 of i (a window of 15, wider than one
//   convolution kernel of 5) at least as many are < V/2 as are >= V/2, else 0. Deterministic (Bayes
//   accuracy 1); one convolution of kernel 5 sees a third of the window (measured accuracy in README),
//   a stack whose receptive field covers 15 positions can reach it. The per-residue CNN test task.
inline constexpr std::int64_t kMajorityHalfWidth = 7;
Dataset generate(const GeneratorOptions& opt);

// The seq-window rule for one sequence of valid tokens: its per-position labels.
std::vector<std::int32_t> seq_window_labels(const std::int32_t* tokens, std::int64_t length);

// Bayes accuracy of two-gaussians with this separation: Phi(separation / 2).
double two_gaussians_bayes_accuracy(double separation);

}  // namespace hpct::data
