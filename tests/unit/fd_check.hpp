#pragma once
// Central finite differences in double precision: the reference every backward is checked against.
// With h = 1e-6 and f64 arithmetic the truncation and rounding errors are about 1e-9 relative, so a
// wrong term in a backward shows up as an error many orders of magnitude above the tolerance.
#include <cmath>
#include <functional>
#include <vector>

#include "core/tensor.hpp"

namespace hpct::test {

// Relative error ||a - b|| / max(||b||, tiny).
inline double rel_error(const std::vector<double>& a, const std::vector<double>& b) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  return std::sqrt(num) / std::max(std::sqrt(den), 1e-300);
}

// d f / d t[i] for every element of the f64 tensor t, by central differences (t is restored).
inline std::vector<double> numeric_gradient(const Tensor& t, const std::function<double()>& f, double h = 1e-6) {
  double* p = t.as<double>();
  std::vector<double> g(static_cast<std::size_t>(t.numel()));
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    const double keep = p[i];
    p[i] = keep + h;
    const double up = f();
    p[i] = keep - h;
    const double down = f();
    p[i] = keep;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

inline std::vector<double> to_vector(const Tensor& t) {
  const double* p = t.as<double>();
  return {p, p + t.numel()};
}

// Deterministic pseudo-random values in [-scale, scale).
inline void fill_random(const Tensor& t, std::uint64_t seed, double scale = 1.0) {
  double* p = t.as<double>();
  std::uint64_t s = seed * 6364136223846793005ull + 1442695040888963407ull;
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    p[i] = scale * (static_cast<double>(s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
  }
}

}  // namespace hpct::test
