#pragma once
// Scalar math shared by the CPU and CUDA backends: activations and their derivatives, stable sigmoid
// and softplus, the dropout keep test. HPCT_HD inline templates on the scalar type (float, double), so
// both backends evaluate the same formulas in the same order.
//
// The elementary functions (exp, tanh, erf) come from an Ops policy: LibmOps (the C library, correct to
// an ulp) by default; the CPU backend passes vectorisable float versions (kernels/cpu/cpu_vmath.hpp), and
// the CUDA backend may pass its intrinsics. Formulas avoid cancellation, overflow and NaN from inf / inf,
// so cheaper elementary functions do not cost accuracy.
#include <math.h>  // expf, tanhf, erff, ...: the C names, which nvcc also provides in device code

#include <cstdint>
#include <type_traits>

#include "core/error.hpp"
#include "core/host_device.hpp"
#include "kernels/kernels.hpp"

namespace hpct::kernels::math {

// ---- the C math functions, overloaded on float / double ------------------------------------------
HPCT_HD float hd_exp(float x) { return expf(x); }
HPCT_HD double hd_exp(double x) { return exp(x); }
HPCT_HD float hd_log1p(float x) { return log1pf(x); }
HPCT_HD double hd_log1p(double x) { return log1p(x); }
HPCT_HD float hd_tanh(float x) { return tanhf(x); }
HPCT_HD double hd_tanh(double x) { return tanh(x); }
HPCT_HD float hd_erf(float x) { return erff(x); }
HPCT_HD double hd_erf(double x) { return erf(x); }
HPCT_HD float hd_sqrt(float x) { return sqrtf(x); }
HPCT_HD double hd_sqrt(double x) { return sqrt(x); }
HPCT_HD float hd_abs(float x) { return fabsf(x); }
HPCT_HD double hd_abs(double x) { return fabs(x); }

template <class T>
HPCT_HD T hd_max(T a, T b) { return a > b ? a : b; }

// The default Ops policy: the C library.
struct LibmOps {
  static HPCT_HD float exp(float x) { return expf(x); }
  static HPCT_HD double exp(double x) { return ::exp(x); }
  static HPCT_HD float tanh(float x) { return tanhf(x); }
  static HPCT_HD double tanh(double x) { return ::tanh(x); }
  static HPCT_HD float erf(float x) { return erff(x); }
  static HPCT_HD double erf(double x) { return ::erf(x); }
};

// ---- constants -------------------------------------------------------------------------------------
inline constexpr double kSqrt2OverPi = 0.79788456080286535588;  // sqrt(2 / pi)
inline constexpr double kGeluCubic = 0.044715;                  // GPT-2's tanh-approximation constant
inline constexpr double kInvSqrt2 = 0.70710678118654752440;     // 1 / sqrt(2)
inline constexpr double kInvSqrt2Pi = 0.39894228040143267794;   // 1 / sqrt(2 pi)

// ---- sigmoid -----------------------------------------------------------------------------------------

template <class T>
struct SigmoidPair {
  T s;            // sigmoid(x)
  T one_minus_s;  // 1 - sigmoid(x) = sigmoid(-x), without the cancellation of 1 - s
};

// sigmoid(x) = 1 / (1 + exp(-x)) and sigmoid(-x) = 1 / (1 + exp(x)): two exps, but no cancellation and
// no branch (so it vectorises); an exp that overflows to inf gives the exact limit 0.
template <class T, class Ops = LibmOps>
HPCT_HD SigmoidPair<T> sigmoid_pair(T x) {
  return {T(1) / (T(1) + Ops::exp(-x)), T(1) / (T(1) + Ops::exp(x))};
}

// sigmoid(x) = 1 / (1 + exp(-x))
template <class T, class Ops = LibmOps>
HPCT_HD T sigmoid(T x) { return T(1) / (T(1) + Ops::exp(-x)); }

// softplus(x) = log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|))   (no overflow, no cancellation)
template <class T>
HPCT_HD T softplus(T x) { return hd_max(x, T(0)) + hd_log1p(hd_exp(-hd_abs(x))); }

// ---- activations -----------------------------------------------------------------------------------

// relu(x) = max(x, 0), NaN staying NaN; relu'(x) = [x > 0] (0 at x = 0, as PyTorch).
template <class T>
HPCT_HD T relu(T x) { return x < T(0) ? T(0) : x; }
template <class T>
HPCT_HD T relu_grad(T x) { return x > T(0) ? T(1) : T(0); }

// gelu_tanh(x) = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3)   (GPT-2, PyTorch approximate="tanh")
//              = x sigmoid(2u)   (0.5 (1 + tanh(u)) = sigmoid(2u): one exp, no cancellation for u << 0)
template <class T, class Ops = LibmOps>
HPCT_HD T gelu_tanh(T x) {
  const T u = T(kSqrt2OverPi) * (x + T(kGeluCubic) * x * x * x);
  return x * sigmoid<T, Ops>(T(2) * u);
}
// gelu_tanh'(x) = 0.5 (1 + t) + 0.5 x (1 - t^2) u',  t = tanh(u), u' = sqrt(2/pi) (1 + 3 * 0.044715 x^2)
//              = s + 2 x s (1 - s) u',               s = sigmoid(2u)
template <class T, class Ops = LibmOps>
HPCT_HD T gelu_tanh_grad(T x) {
  const T x2 = x * x;
  const T u = T(kSqrt2OverPi) * (x + T(kGeluCubic) * x2 * x);
  const T du = T(kSqrt2OverPi) * (T(1) + T(3 * kGeluCubic) * x2);
  const SigmoidPair<T> p = sigmoid_pair<T, Ops>(T(2) * u);
  return p.s + T(2) * x * p.s * p.one_minus_s * du;
}

// gelu_exact(x) = x Phi(x) = 0.5 x (1 + erf(x / sqrt 2))
template <class T, class Ops = LibmOps>
HPCT_HD T gelu_exact(T x) { return T(0.5) * x * (T(1) + Ops::erf(x * T(kInvSqrt2))); }
// gelu_exact'(x) = Phi(x) + x phi(x), phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
template <class T, class Ops = LibmOps>
HPCT_HD T gelu_exact_grad(T x) {
  const T cdf = T(0.5) * (T(1) + Ops::erf(x * T(kInvSqrt2)));
  const T pdf = T(kInvSqrt2Pi) * Ops::exp(T(-0.5) * x * x);
  return cdf + x * pdf;
}

// tanh'(x) = 1 - tanh(x)^2 = 4 sigmoid(2x) sigmoid(-2x)   (no cancellation where tanh(x) is near +-1)
template <class T, class Ops = LibmOps>
HPCT_HD T tanh_grad(T x) {
  const SigmoidPair<T> p = sigmoid_pair<T, Ops>(T(2) * x);
  return T(4) * p.s * p.one_minus_s;
}

// silu(x) = x sigmoid(x)
template <class T, class Ops = LibmOps>
HPCT_HD T silu(T x) { return x * sigmoid<T, Ops>(x); }
// silu'(x) = s + x s (1 - s) = s (1 + x (1 - s)), s = sigmoid(x)
template <class T, class Ops = LibmOps>
HPCT_HD T silu_grad(T x) {
  const SigmoidPair<T> p = sigmoid_pair<T, Ops>(x);
  return p.s * (T(1) + x * p.one_minus_s);
}

// f(x) for a compile-time activation.
template <Activation A, class T, class Ops = LibmOps>
HPCT_HD T activate(T x) {
  if constexpr (A == Activation::identity) return x;
  else if constexpr (A == Activation::relu) return relu(x);
  else if constexpr (A == Activation::gelu_tanh) return gelu_tanh<T, Ops>(x);
  else if constexpr (A == Activation::gelu_exact) return gelu_exact<T, Ops>(x);
  else if constexpr (A == Activation::tanh) return Ops::tanh(x);
  else return silu<T, Ops>(x);
}

// f'(x) for a compile-time activation.
template <Activation A, class T, class Ops = LibmOps>
HPCT_HD T activate_grad(T x) {
  if constexpr (A == Activation::identity) return T(1);
  else if constexpr (A == Activation::relu) return relu_grad(x);
  else if constexpr (A == Activation::gelu_tanh) return gelu_tanh_grad<T, Ops>(x);
  else if constexpr (A == Activation::gelu_exact) return gelu_exact_grad<T, Ops>(x);
  else if constexpr (A == Activation::tanh) return tanh_grad<T, Ops>(x);
  else return silu_grad<T, Ops>(x);
}

// dx = dy f'(x), the activation's backward on one element. ReLU selects: dy where x > 0, else +0, also
// for a NaN or inf dy (PyTorch's threshold_backward), and a select is what vectorises on the CPU.
template <Activation A, class T, class Ops = LibmOps>
HPCT_HD T activation_backward_value(T x, T dy) {
  if constexpr (A == Activation::relu) return x > T(0) ? dy : T(0);
  else return dy * activate_grad<A, T, Ops>(x);
}

// Calls body(std::integral_constant<Activation, f>{}) (host code), so each activation gets its own
// compiled loop or kernel.
template <class F>
void with_activation(Activation f, F&& body) {
  using A = Activation;
  switch (f) {
    case A::identity: body(std::integral_constant<A, A::identity>{}); return;
    case A::relu: body(std::integral_constant<A, A::relu>{}); return;
    case A::gelu_tanh: body(std::integral_constant<A, A::gelu_tanh>{}); return;
    case A::gelu_exact: body(std::integral_constant<A, A::gelu_exact>{}); return;
    case A::tanh: body(std::integral_constant<A, A::tanh>{}); return;
    case A::silu: body(std::integral_constant<A, A::silu>{}); return;
  }
  fail("invalid Activation value ", static_cast<int>(f));
}

// ---- dropout -----------------------------------------------------------------------------------------
// philox_uniform = (r >> 8) / 2^24 exactly, so "keep when u >= p" is the integer test
// (r >> 8) >= ceil(p 2^24): the same decision on every backend, without float rounding of p.
HPCT_HD std::uint32_t dropout_threshold(double p) { return static_cast<std::uint32_t>(ceil(p * 16777216.0)); }
HPCT_HD bool dropout_keep(std::uint32_t philox_bits, std::uint32_t threshold) {
  return (philox_bits >> 8) >= threshold;
}

// ---- row-keyed Philox counters (Backend's row_ids arguments) ---------------------------------------
// A tensor of N batch rows of K elements each, element e = n K + k, draws Philox element
// row_ids[n] K + k when the rows carry data-set row ids (row_ids non-null), else e: its index in a
// virtual tensor indexed by data-set row instead of batch position, so a row's numbers do not depend
// on where it lands (batch position, rank). Rows own the disjoint ranges [r K, r K + K), all below
// 2^63 for r <= max_row_key(K): no overflow, no collision.
HPCT_HD std::int64_t max_row_key(std::int64_t per_row) { return INT64_MAX / per_row - 1; }
HPCT_HD bool row_key_ok(std::int64_t row, std::int64_t per_row) { return row >= 0 && row <= max_row_key(per_row); }
HPCT_HD std::uint64_t keyed_index(const std::int64_t* row_ids, std::int64_t e, std::int64_t per_row) {
  if (!row_ids) return static_cast<std::uint64_t>(e);
  const std::int64_t n = e / per_row;
  return static_cast<std::uint64_t>(row_ids[n]) * static_cast<std::uint64_t>(per_row) +
         static_cast<std::uint64_t>(e - n * per_row);
}
// normal_fill's row keying (a stream per data-set row, counters from 0): batch row n draws from
// stream + (row_ids[n] + 1) 2^32, row ids in [0, kMaxNoiseRow], the stream's bits 32-61 clear.
inline constexpr std::int64_t kMaxNoiseRow = (std::int64_t{1} << 30) - 2;
HPCT_HD std::uint64_t row_stream(std::uint64_t stream, std::int64_t row) {
  return stream + ((static_cast<std::uint64_t>(row) + 1) << 32);
}

}  // namespace hpct::kernels::math
