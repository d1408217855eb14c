#include "data/generators.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>
#include <random>
#include <utility>

#include "core/error.hpp"

namespace hpct::data {
namespace {

// mt19937_64's output sequence is fixed by the standard; the distributions are not, so uniform and
// normal draws are computed here to make the data identical across standard libraries.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : eng_(seed) {}
  // [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(eng_() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Box-Muller; the second value of each pair is kept for the next call.
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double u1 = 1.0 - uniform();  // (0, 1]: log stays finite
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    const double t = 2.0 * std::numbers::pi * u2;
    spare_ = r * std::sin(t);
    has_spare_ = true;
    return r * std::cos(t);
  }

 private:
  std::mt19937_64 eng_;
  bool has_spare_ = false;
  double spare_ = 0.0;
};

constexpr int kPhysicsFeatures = 19;

// The physics19 response: fixed coefficients, drawn once from a generator with a constant seed
// (independent of the user's seed) so every data set of this kind shares one ground truth.
struct Physics19 {
  std::array<double, kPhysicsFeatures> a{}, w{};
  struct Coupling {
    int i, j;
    double c;
  };
  std::vector<Coupling> couplings;  // 12 distinct pairs i < j
};

const Physics19& physics19() {
  static const Physics19 p = [] {
    Physics19 q;
    Rng r(0x5eed19u);
    for (int i = 0; i < kPhysicsFeatures; ++i) {
      q.a[i] = r.uniform(0.5, 1.5);
      q.w[i] = r.uniform(1.0, 3.0);
    }
    while (q.couplings.size() < 12) {
      int i = static_cast<int>(r.uniform() * kPhysicsFeatures);
      int j = static_cast<int>(r.uniform() * kPhysicsFeatures);
      if (i == j) continue;
      if (i > j) std::swap(i, j);
      bool seen = false;
      for (const auto& c : q.couplings) seen = seen || (c.i == i && c.j == j);
      if (seen) continue;
      q.couplings.push_back({i, j, r.uniform(-0.5, 0.5)});
    }
    return q;
  }();
  return p;
}

Dataset heteroscedastic(const GeneratorOptions& opt, std::int64_t F) {
  HPCT_CHECK(F >= 2, "gen-data heteroscedastic: needs at least 2 features, got ", F);
  Rng rng(opt.seed);
  Dataset d;
  d.task = Task::regression;
  d.n = opt.n;
  d.features = F;
  d.targets = 1;
  const auto n = static_cast<std::size_t>(opt.n);
  d.x.resize(n * static_cast<std::size_t>(F));
  d.y.resize(n);
  std::vector<float> f(n), sigma(n);
  for (std::size_t r = 0; r < n; ++r) {
    float* x = d.x.data() + r * static_cast<std::size_t>(F);
    for (std::int64_t j = 0; j < F; ++j) x[j] = static_cast<float>(rng.uniform(-1.0, 1.0));
    // f and sigma use the stored (float) x so the ground truth matches the features exactly.
    double fx = std::sin(std::numbers::pi * x[0]) + 0.5 * double(x[1]) * x[1];
    for (std::int64_t j = 2; j < F; ++j) fx += 0.25 * x[j];
    const double sx = 0.1 + 0.2 * (1.0 + x[0]);
    d.y[r] = static_cast<float>(fx + sx * rng.normal());
    f[r] = static_cast<float>(fx);
    sigma[r] = static_cast<float>(sx);
  }
  d.extras.emplace_back("f", std::move(f));
  d.extras.emplace_back("sigma", std::move(sigma));
  return d;
}

Dataset two_gaussians(const GeneratorOptions& opt, std::int64_t F) {
  HPCT_CHECK(F >= 1, "gen-data two-gaussians: needs at least 1 feature, got ", F);
  HPCT_CHECK(std::isfinite(opt.separation) && opt.separation >= 0, "gen-data two-gaussians: ",
             "separation must be finite and >= 0, got ", opt.separation);
  Rng rng(opt.seed);
  Dataset d;
  d.task = Task::binary;
  d.n = opt.n;
  d.features = F;
  d.targets = 1;
  const auto n = static_cast<std::size_t>(opt.n);
  d.x.resize(n * static_cast<std::size_t>(F));
  d.y.resize(n);
  std::vector<float> p(n);
  const double u = 1.0 / std::sqrt(static_cast<double>(F));  // each component of u
  const double half = 0.5 * opt.separation;
  for (std::size_t r = 0; r < n; ++r) {
    const bool label = rng.uniform() < 0.5;
    float* x = d.x.data() + r * static_cast<std::size_t>(F);
    double ux = 0.0;
    for (std::int64_t j = 0; j < F; ++j) {
      x[j] = static_cast<float>((label ? half : -half) * u + rng.normal());
      ux += u * x[j];
    }
    d.y[r] = label ? 1.0f : 0.0f;
    // Log-odds of the two unit-covariance Gaussians: (m1 - m0).x = separation * u.x.
    p[r] = static_cast<float>(1.0 / (1.0 + std::exp(-opt.separation * ux)));
  }
  d.extras.emplace_back("p_optimal", std::move(p));
  return d;
}

Dataset physics(const GeneratorOptions& opt, std::int64_t F) {
  HPCT_CHECK(F == kPhysicsFeatures, "gen-data physics19: has exactly ", kPhysicsFeatures,
             " features, got ", F);
  const Physics19& c = physics19();
  Rng rng(opt.seed);
  Dataset d;
  d.task = Task::regression;
  d.n = opt.n;
  d.features = F;
  d.targets = 2;
  const auto n = static_cast<std::size_t>(opt.n);
  d.x.resize(n * kPhysicsFeatures);
  d.y.resize(n * 2);
  std::vector<float> f(n * 2);
  for (std::size_t r = 0; r < n; ++r) {
    float* x = d.x.data() + r * kPhysicsFeatures;
    for (int j = 0; j < kPhysicsFeatures; ++j) x[j] = static_cast<float>(rng.uniform(-1.0, 1.0));
    double y0 = 0.0, sq = 0.0;
    for (int i = 0; i < kPhysicsFeatures; ++i) {
      y0 += c.a[i] * std::sin(c.w[i] * x[i]);
      sq += double(x[i]) * x[i];
    }
    for (const auto& k : c.couplings) y0 += k.c * x[k.i] * x[k.j];
    const double y1 = std::exp(0.3 * x[0] - 0.2 * x[1]) * std::cos(double(x[2]) + x[3]) + 0.1 * sq;
    f[2 * r] = static_cast<float>(y0);
    f[2 * r + 1] = static_cast<float>(y1);
    d.y[2 * r] = static_cast<float>(y0 + 0.01 * rng.normal());
    d.y[2 * r + 1] = static_cast<float>(y1 + 0.01 * rng.normal());
  }
  d.extras.emplace_back("f", std::move(f));
  return d;
}

constexpr std::int64_t kSeqClasses = 3;

// Token sequences shared by the sequence kinds: lengths ~ U{ceil(L/4), .., L}, tokens uniform over
// the alphabet at valid positions, 0 at padding.
Dataset token_sequences(const GeneratorOptions& opt, Rng& rng) {
  Dataset d;
  d.n = opt.n;
  d.seq_len = opt.seq_len > 0 ? opt.seq_len : 64;
  d.vocab_size = opt.vocab_size > 0 ? opt.vocab_size : 20;
  HPCT_CHECK(d.seq_len >= 2, "gen-data ", opt.kind, ": seq-len must be >= 2, got ", d.seq_len);
  HPCT_CHECK(d.vocab_size >= 2 && d.vocab_size <= 65536, "gen-data ", opt.kind, ": vocab must be in [2, 65536], got ",
             d.vocab_size);
  const std::int64_t L = d.seq_len, min_len = (L + 3) / 4;
  d.lengths.resize(static_cast<std::size_t>(d.n));
  d.tokens.assign(static_cast<std::size_t>(d.n * L), 0);
  for (std::int64_t r = 0; r < d.n; ++r) {
    const auto len = min_len + static_cast<std::int64_t>(rng.uniform() * static_cast<double>(L - min_len + 1));
    d.lengths[static_cast<std::size_t>(r)] = static_cast<std::int32_t>(len);
    for (std::int64_t i = 0; i < len; ++i)
      d.tokens[static_cast<std::size_t>(r * L + i)] =
          static_cast<std::int32_t>(rng.uniform() * static_cast<double>(d.vocab_size));
  }
  return d;
}

// The tokens as one-hot float rows /X [N, L, V] (padding rows all zero); the tokens are dropped.
void to_one_hot(Dataset& d) {
  const std::int64_t L = d.seq_len, V = d.vocab_size;
  d.features = V;
  d.x.assign(static_cast<std::size_t>(d.n * L * V), 0.0f);
  for (std::int64_t r = 0; r < d.n; ++r)
    for (std::int64_t i = 0; i < d.length(r); ++i)
      d.x[static_cast<std::size_t>((r * L + i) * V + d.tokens[static_cast<std::size_t>(r * L + i)])] = 1.0f;
  d.tokens.clear();
  d.vocab_size = 0;
}

// Token sequences of opt.seed classified per token into `classes` classes: the labels start as
// kIgnoreLabel everywhere (padding keeps it), the caller sets the valid tokens'.
Dataset token_classes(const GeneratorOptions& opt, std::int64_t classes) {
  Rng rng(opt.seed);
  Dataset d = token_sequences(opt, rng);
  d.task = Task::classification;
  d.num_classes = classes;
  d.token_targets = true;
  d.labels.assign(static_cast<std::size_t>(d.n * d.seq_len), kIgnoreLabel);
  return d;
}

Dataset seq_window(const GeneratorOptions& opt) {
  Dataset d = token_classes(opt, kSeqClasses);
  const std::int64_t L = d.seq_len;
  for (std::int64_t r = 0; r < d.n; ++r) {
    const std::vector<std::int32_t> labels = seq_window_labels(d.tokens.data() + r * L, d.length(r));
    std::copy(labels.begin(), labels.end(), d.labels.begin() + r * L);
  }
  return d;
}

// seq-majority: label[i] = 1 when, of the valid tokens t[j], |j - i| <= kMajorityHalfWidth, at least
// as many are < V/2 as are >= V/2 (generators.hpp).
Dataset seq_majority(const GeneratorOptions& opt) {
  Dataset d = token_classes(opt, 2);
  const std::int64_t L = d.seq_len, V = d.vocab_size;
  for (std::int64_t r = 0; r < d.n; ++r) {
    const std::int32_t* t = d.tokens.data() + r * L;
    const std::int64_t len = d.length(r);
    for (std::int64_t i = 0; i < len; ++i) {
      std::int64_t score = 0;
      for (std::int64_t j = std::max<std::int64_t>(0, i - kMajorityHalfWidth);
           j <= std::min<std::int64_t>(len - 1, i + kMajorityHalfWidth); ++j)
        score += 2 * t[j] < V ? 1 : -1;
      d.labels[static_cast<std::size_t>(r * L + i)] = score >= 0 ? 1 : 0;
    }
  }
  return d;
}

Dataset seq_sum(const GeneratorOptions& opt) {
  Rng rng(opt.seed);
  Dataset d = token_sequences(opt, rng);
  d.task = Task::regression;
  d.targets = 1;
  d.y.resize(static_cast<std::size_t>(d.n));
  for (std::int64_t r = 0; r < d.n; ++r) {
    double sum = 0.0;
    for (std::int64_t i = 0; i < d.length(r); ++i) sum += std::cos(static_cast<double>(d.tokens[static_cast<std::size_t>(r * d.seq_len + i)]));
    d.y[static_cast<std::size_t>(r)] = static_cast<float>(sum / static_cast<double>(d.length(r)));
  }
  return d;
}

}  // namespace

std::vector<std::int32_t> seq_window_labels(const std::int32_t* tokens, std::int64_t length) {
  std::vector<std::int32_t> labels(static_cast<std::size_t>(length));
  for (std::int64_t i = 0; i < length; ++i) {
    const std::int64_t left = i > 0 ? tokens[i - 1] : 0, right = i + 1 < length ? tokens[i + 1] : 0;
    labels[static_cast<std::size_t>(i)] = static_cast<std::int32_t>((left + 2 * tokens[i] + right) % kSeqClasses);
  }
  return labels;
}

Dataset generate(const GeneratorOptions& opt) {
  HPCT_CHECK(opt.n > 0, "gen-data: n must be > 0, got ", opt.n);
  HPCT_CHECK(opt.features >= 0, "gen-data: features must be >= 0 (0: the kind's default), got ",
             opt.features);
  const auto F = [&](std::int64_t dflt) { return opt.features > 0 ? opt.features : dflt; };
  Dataset d;
  if (opt.kind == "heteroscedastic")
    d = heteroscedastic(opt, F(4));
  else if (opt.kind == "two-gaussians")
    d = two_gaussians(opt, F(8));
  else if (opt.kind == "physics19")
    d = physics(opt, F(kPhysicsFeatures));
  else if (opt.kind == "seq-window")
    d = seq_window(opt);
  else if (opt.kind == "seq-sum")
    d = seq_sum(opt);
  else if (opt.kind == "seq-majority")
    d = seq_majority(opt);
  else
    fail("gen-data: unknown kind '", opt.kind,
         "' (valid: heteroscedastic, two-gaussians, physics19, seq-window, seq-sum, seq-majority)");
  if (d.is_sequence()) {
    HPCT_CHECK(opt.features == 0, "gen-data ", opt.kind, ": features does not apply to sequences (got ",
               opt.features, "; with encoding onehot F is the vocabulary)");
    HPCT_CHECK(opt.encoding == "tokens" || opt.encoding == "onehot", "gen-data: unknown encoding '", opt.encoding,
               "' (valid: tokens, onehot)");
    if (opt.encoding == "onehot") to_one_hot(d);
  } else {
    HPCT_CHECK(opt.encoding == "tokens", "gen-data ", opt.kind, ": encoding '", opt.encoding,
               "' applies to the sequence kinds only (seq-window, seq-sum, seq-majority)");
  }
  d.source = cat("generated ", opt.kind, " (seed ", opt.seed, ")");
  return d;
}

double two_gaussians_bayes_accuracy(double separation) {
  // Phi(s / 2) = erfc(-s / (2 sqrt 2)) / 2
  return 0.5 * std::erfc(-separation / (2.0 * std::numbers::sqrt2));
}

}  // namespace hpct::data
