#pragma once
// Helpers shared by the CPU kernel tests: the backend under test, host arrays with Tensor views (for
// the synchronous CPU backend host memory is device memory, so they serve as device tensors too, index,
// label and length tensors included), reproducible random data in every float dtype (bf16 and f16
// too), and an element-wise closeness check against a double reference.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "core/half.hpp"
#include "core/tensor.hpp"
#include "kernels/kernels.hpp"

namespace hpct::test {

using hpct::kernels::Backend;

// The synchronous CPU backend: the kernel tests check kernels against naive references on host
// arrays, so they always run here. Every other backend is held to this one's bits or tolerances by
// test_backend_agreement.cpp; the model-side tests pick their backend from HPCTRAIN_TEST_DEVICE
// (nn_test_support.hpp's test_backend()).
inline Backend& be() {
  static const std::unique_ptr<Backend> backend = hpct::kernels::make_cpu_backend(0);
  return *backend;
}

// An element's value as a double (16-bit storage types widen exactly), and a double stored as T
// (rounded to nearest-even for the 16-bit types).
inline double as_double(hpct::bf16 h) { return hpct::to_float(h); }
inline double as_double(hpct::f16 h) { return hpct::to_float(h); }
template <class T>
double as_double(T x) {
  return static_cast<double>(x);
}
template <class T>
T from_double(double d) {
  if constexpr (std::is_same_v<T, hpct::bf16>) return hpct::to_bf16(static_cast<float>(d));
  else if constexpr (std::is_same_v<T, hpct::f16>) return hpct::to_f16(static_cast<float>(d));
  else return static_cast<T>(d);
}

// Host data with a Tensor view onto it.
template <class T>
struct Host {
  std::vector<T> v;
  Shape shape;
  explicit Host(Shape s, T init = T{}) : v(static_cast<std::size_t>(s.numel()), init), shape(s) {}
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
  for (auto& x : h.v) x = from_double<T>(dist(gen));
  return h;
}

template <class T>
std::vector<double> to_double(const Host<T>& h) {
  std::vector<double> out(h.v.size());
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = as_double(h.v[i]);
  return out;
}

// h converted element by element to U (rounding to nearest-even into a 16-bit type).
template <class U, class T>
Host<U> convert_host(const Host<T>& h) {
  Host<U> out(h.shape);
  for (std::size_t i = 0; i < h.v.size(); ++i) out.v[i] = from_double<U>(as_double(h.v[i]));
  return out;
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
    const double err = std::abs(as_double(got[i]) - ref[i]) / (atol + rtol * std::abs(ref[i]));
    if (!(err <= worst)) {
      worst = err;
      at = i;
      if (std::isnan(err)) break;
    }
  }
  INFO(what, ": worst element ", at, " of ", got.size(), ": got ", (got.empty() ? 0.0 : as_double(got[at])),
       ", expected ", (ref.empty() ? 0.0 : ref[at]), " (error ", worst, " x tolerance)");
  CHECK(worst <= 1.0);
}

// ---- 16-bit storage against f32 ---------------------------------------------------------------------

// h as an input of dtype T holding the values of h rounded to In: input<bf16, bf16>(h) is h in bf16,
// input<float, bf16>(h) the same values in f32, input<float, float>(h) h itself.
template <class T, class In, class S>
Host<T> input(const Host<S>& h) {
  return convert_host<T>(convert_host<In>(h));
}

// An op's outputs: `stored` in the op's float dtype (rounded to it on store), `fixed` in a dtype that
// does not follow it (f64 loss accumulators, f32 layernorm statistics and attention probabilities).
struct Outputs {
  std::vector<std::vector<double>> stored, fixed;
};

// The tolerance of a 16-bit result against f32 on unrounded inputs, relative to the output's largest
// magnitude: four units of 16-bit rounding (inputs and output each rounded once, errors of a few
// such roundings adding up in sums): bf16 (8 significant bits) 2^-6, f16 (11 bits) 2^-9.
template <class H>
constexpr double half_tolerance() {
  return std::is_same_v<H, hpct::bf16> ? 1.0 / 64 : 1.0 / 512;
}

// Checks the CPU's 16-bit path of an op against its f32 path. op(T{}, In{}) runs the op with float
// tensors of dtype T whose values are rounded to In (see input) and returns its Outputs. With H 16-bit:
//  1. exactness: op(H, H) stores exactly round_H(op(float, H)), the f32 kernel on the same values
//     rounded once on store, and its fixed outputs are op(float, H)'s bit for bit;
//  2. accuracy: op(H, H) is within half_tolerance<H>() * max |op(float, float)| of op(float, float).
template <class H, class Op>
void check_half_against_f32(Op&& op, const std::string& what) {
  const Outputs half = op(H{}, H{}), same_values = op(float{}, H{}), exact = op(float{}, float{});
  REQUIRE(half.stored.size() == exact.stored.size());
  REQUIRE(half.fixed.size() == exact.fixed.size());
  for (std::size_t k = 0; k < half.stored.size(); ++k) {
    CAPTURE(k);
    std::vector<double> rounded(same_values.stored[k].size());
    for (std::size_t i = 0; i < rounded.size(); ++i) rounded[i] = as_double(from_double<H>(same_values.stored[k][i]));
    check_close(half.stored[k], rounded, 0.0, 1e-300, what + ": stored output is round(f32 result)");
    double scale = 0.0;
    for (const double v : exact.stored[k]) scale = std::max(scale, std::abs(v));
    check_close(half.stored[k], exact.stored[k], 0.0, half_tolerance<H>() * std::max(scale, 1e-30),
                what + ": stored output vs f32");
  }
  for (std::size_t k = 0; k < half.fixed.size(); ++k) {
    CAPTURE(k);
    check_close(half.fixed[k], same_values.fixed[k], 0.0, 1e-300, what + ": fixed output is the f32 kernel's");
    double scale = 0.0;
    for (const double v : exact.fixed[k]) scale = std::max(scale, std::abs(v));
    check_close(half.fixed[k], exact.fixed[k], 0.0, half_tolerance<H>() * std::max(scale, 1e-30),
                what + ": fixed output vs f32");
  }
}

}  // namespace hpct::test
