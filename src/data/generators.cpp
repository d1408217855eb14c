#include "data/generators.hpp"

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

}  // namespace

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
  else
    fail("gen-data: unknown kind '", opt.kind,
         "' (valid: heteroscedastic, two-gaussians, physics19)");
  d.source = cat("generated ", opt.kind, " (seed ", opt.seed, ")");
  return d;
}

double two_gaussians_bayes_accuracy(double separation) {
  // Phi(s / 2) = erfc(-s / (2 sqrt 2)) / 2
  return 0.5 * std::erfc(-separation / (2.0 * std::numbers::sqrt2));
}

}  // namespace hpct::data
