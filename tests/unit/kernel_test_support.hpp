#pragma once
// Helpers shared by the CPU kernel tests: the backend under test, host arrays with Tensor views,
// reproducible random data, and an element-wise closeness check against a double reference.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "core/tensor.hpp"
#include "kernels/kernels.hpp"

namespace hpct::test {

using hpct::kernels::Backend;

inline Backend& be() {
  static const std::unique_ptr<Backend> backend = hpct::kernels::make_cpu_backend(0);
  return *backend;
}

// Host data with a Tensor view onto it.
template <class T>
struct Host {
  std::vector<T> v;
  Shape shape;
  explicit Host(Shape s, T init = T(0)) : v(static_cast<std::size_t>(s.numel()), init), shape(s) {}
  Tensor t() { return Tensor(v.data(), shape, hpct::dtype_of<T>()); }
  T& operator[](std::int64_t i) { return v[static_cast<std::size_t>(i)]; }
  T operator[](std::int64_t i) const { return v[static_cast<std::size_t>(i)]; }
  std::int64_t n() const { return static_cast<std::int64_t>(v.size()); }
};

// Uniform in [lo, hi), reproducible per seed.
template <class T>
Host<T> rand_host(Shape s, std::uint64_t seed, double lo = -1.0, double hi = 1.0) {
  Host<T> h(s);
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  for (auto& x : h.v) x = static_cast<T>(dist(gen));
  return h;
}

template <class T>
std::vector<double> to_double(const Host<T>& h) {
  return {h.v.begin(), h.v.end()};
}

template <class T>
constexpr bool is_f32 = std::is_same_v<T, float>;

// Tolerance picked by precision.
template <class T>
constexpr double tol(double for_float, double for_double) {
  return is_f32<T> ? for_float : for_double;
}

// Every |got - ref| <= atol + rtol |ref| (NaN fails).
template <class G>
inline void check_close(const std::vector<G>& got, const std::vector<double>& ref, double rtol, double atol,
                 const std::string& what) {
  REQUIRE(got.size() == ref.size());
  double worst = 0.0;
  std::size_t at = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double err = std::abs(static_cast<double>(got[i]) - ref[i]) / (atol + rtol * std::abs(ref[i]));
    if (!(err <= worst)) {
      worst = err;
      at = i;
      if (std::isnan(err)) break;
    }
  }
  INFO(what, ": worst element ", at, " of ", got.size(), ": got ", (got.empty() ? 0.0 : double(got[at])),
       ", expected ", (ref.empty() ? 0.0 : ref[at]), " (error ", worst, " x tolerance)");
  CHECK(worst <= 1.0);
}

}  // namespace hpct::test
