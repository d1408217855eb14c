#pragma once
// Central finite differences in double precision: the reference every backward is checked against.
// With h = 1e-6 and f64 arithmetic the truncation and rounding errors are about 1e-9 relative, so a
// wrong term in a backward shows up as an error many orders of magnitude above the tolerance.
// Tensors live in the backend's memory (nn_test_support.hpp): they are perturbed one element at a time
// through Backend::copy and read back with Backend::read, on any backend.
#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "core/tensor.hpp"
#include "nn_test_support.hpp"

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

// d f / d t[i] for every element of the f64 tensor t (be's memory), by central differences (t is
// restored exactly).
inline std::vector<double> numeric_gradient(kernels::Backend& be, const Tensor& t, const std::function<double()>& f,
                                            double h = 1e-6) {
  const std::vector<double> keep = be.read<double>(t);
  std::vector<double> g(keep.size());
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    const double k = keep[static_cast<std::size_t>(i)];
    set_element(be, t, i, k + h);
    const double up = f();
    set_element(be, t, i, k - h);
    const double down = f();
    set_element(be, t, i, k);
    g[static_cast<std::size_t>(i)] = (up - down) / (2 * h);
  }
  return g;
}

// The f64 tensor t (be's memory) on the host.
inline std::vector<double> to_vector(kernels::Backend& be, const Tensor& t) { return be.read<double>(t); }

// Deterministic pseudo-random values in [-scale, scale), n of them.
inline std::vector<double> random_values(std::int64_t n, std::uint64_t seed, double scale = 1.0) {
  std::vector<double> v(static_cast<std::size_t>(n));
  std::uint64_t s = seed * 6364136223846793005ull + 1442695040888963407ull;
  for (double& x : v) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    x = scale * (static_cast<double>(s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
  }
  return v;
}

// The f64 tensor t (be's memory) = random_values(numel, seed, scale).
inline void fill_random(kernels::Backend& be, const Tensor& t, std::uint64_t seed, double scale = 1.0) {
  write(be, t, random_values(t.numel(), seed, scale));
}

// A new f64 buffer in be's memory holding random_values.
inline Buffer random_buffer(kernels::Backend& be, Shape shape, std::uint64_t seed, double scale = 1.0) {
  return upload(be, random_values(shape.numel(), seed, scale), shape);
}

}  // namespace hpct::test
