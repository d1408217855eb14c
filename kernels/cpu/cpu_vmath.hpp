#pragma once
// Branch-free float versions of exp, tanh and erf for the CPU backend: plain arithmetic and selects,
// so g++ vectorises the loops that call them (glibc's expf / tanhf / erff are scalar calls of 5-30 ns).
// Accuracy, measured against double libm by tests/unit/test_kernels_cpu.cpp: a few float ulps
// (relative error < 2e-7 for exp and tanh; absolute error < 5e-7 for erf). Doubles go to libm unchanged: float64 is the
// precision of the reference and finite-difference tests, not of training.
#include <cmath>
#include <cstdint>

#include "core/half.hpp"

namespace hpct::kernels::cpu {

// g++ (12, with the default -ftrapping-math) vectorises neither a float select whose arms involve float
// arithmetic (it will not speculate an operation that may trap) nor std::fmin / std::fmax; a bitwise
// blend of unconditionally computed values is fine, so that is the only select the code below uses
// (float_bits / bits_float: core/half.hpp).
// cond ? a : b, branch-free.
inline float blend(bool cond, float a, float b) {
  const std::uint32_t mask = 0u - static_cast<std::uint32_t>(cond);
  return bits_float((float_bits(a) & mask) | (float_bits(b) & ~mask));
}

// lo <= x <= hi (NaN stays NaN), as blends: a `x < lo ? lo : x` would let g++ thread the clamped cases
// into constant branches, leaving control flow that blocks vectorisation.
inline float clampf(float x, float lo, float hi) {
  const float y = blend(x < lo, lo, x);
  return blend(y > hi, hi, y);
}

// exp(x) = 2^n exp(r), n = round(x / ln 2), r = x - n ln 2 in [-ln2/2, ln2/2] (ln 2 split in two parts
// so n ln 2 is exact); exp(r) by Cephes' expf polynomial; 2^n = 2^(n/2) 2^(n - n/2) from exponent bits,
// so results down to the denormals are right. x is clamped to [-104, 88.8], where the result has
// already rounded to 0 / overflowed to +inf; NaN propagates through the polynomial.
inline float fast_exp(float x) {
  const float xc = clampf(x, -104.0f, 88.8f);
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer, held in the low bits
  const float t = xc * 1.44269504088896341f + kRound;
  const float n = t - kRound;
  float r = xc - n * 0.693359375f;  // ln 2 = 0.693359375 - 2.12194440e-4
  r = r + n * 2.12194440e-4f;
  const float p = ((((((1.9875691500e-4f * r + 1.3981999507e-3f) * r + 8.3334519073e-3f) * r + 4.1665795894e-2f) * r +
                     1.6666665459e-1f) * r + 5.0000001201e-1f) * r * r) + r + 1.0f;
  // n from the bits of t (no float-to-int conversion, which would be undefined for NaN).
  const auto ni = static_cast<std::int32_t>(float_bits(t) - float_bits(kRound));
  const std::int32_t n1 = ni / 2, n2 = ni - n1;  // both in [-75, 65] for finite x: normal powers of two
  return p * bits_float(static_cast<std::uint32_t>(n1 + 127) << 23) *
         bits_float(static_cast<std::uint32_t>(n2 + 127) << 23);
}

// tanh(x): |x| < 0.625: Cephes' tanhf polynomial x + x^3 P(x^2); else sign(x) (1 - 2 / (exp(2|x|) + 1)).
inline float fast_tanh(float x) {
  const float ax = std::fabs(x);
  const float z = x * x;
  const float small = ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z +
                        1.33314422036e-1f) * z - 3.33332819422e-1f) * z * x + x;
  const float big = std::copysign(1.0f - 2.0f / (fast_exp(2.0f * ax) + 1.0f), x);
  return blend(ax < 0.625f, small, big);  // NaN: big, which is NaN
}

// erf(x): x P(x^2) / Q(x^2) on [-4, 4] (odd degree-13 over even degree-8 minimax rational, the one Eigen
// and XLA use for float; its own error is < 7e-8), evaluated in float, 8 lanes wide: the rounding of
// the polynomials and the division adds a few ulps (absolute error < 5e-7 measured; the double
// evaluation was 2.4 times slower for 1.5e-7, and GELU-exact training spends most of its
// activation time here). Exactly +-1 from |x| = 3.92 on, where erf rounds to +-1 in float.
inline float fast_erf(float x) {
  const float xc = clampf(x, -4.0f, 4.0f);
  const float x2 = xc * xc;
  float p = x2 * -2.72614225801306e-10f + 2.77068142495902e-08f;
  p = x2 * p + -2.10102402082508e-06f;
  p = x2 * p + -5.69250639462346e-05f;
  p = x2 * p + -7.34990630326855e-04f;
  p = x2 * p + -2.95459980854025e-03f;
  p = x2 * p + -1.60960333262415e-02f;
  p = xc * p;
  float q = x2 * -1.45660718464996e-05f + -2.13374055278905e-04f;
  q = x2 * q + -1.68282697438203e-03f;
  q = x2 * q + -7.37332916720468e-03f;
  q = x2 * q + -1.42647390514189e-02f;
  return blend(std::fabs(x) >= 3.92f, std::copysign(1.0f, x), p / q);  // NaN for NaN x
}

// The elementary functions of kernels/common/math.hpp's formulas, for the CPU: the fast float ones
// above, libm for double.
struct CpuOps {
  static float exp(float x) { return fast_exp(x); }
  static double exp(double x) { return std::exp(x); }
  static float tanh(float x) { return fast_tanh(x); }
  static double tanh(double x) { return std::tanh(x); }
  static float erf(float x) { return fast_erf(x); }
  static double erf(double x) { return std::erf(x); }
};

}  // namespace hpct::kernels::cpu
