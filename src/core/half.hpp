#pragma once
// The 16-bit floating-point storage types and their conversions, shared by both backends (plain
// inline code on the host, __host__ __device__ under nvcc). Arithmetic happens in float: a 16-bit
// value is widened when read and rounded to nearest-even when stored, as on a GPU.
#include <cstdint>
#include <cstring>

#include "core/host_device.hpp"

namespace hpct {

struct bf16 {
  std::uint16_t bits = 0;
};
struct f16 {
  std::uint16_t bits = 0;
};

HPCT_HD std::uint32_t float_bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
HPCT_HD float bits_float(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// bfloat16 is the upper half of a float: round the lower 16 bits to nearest, ties to even. NaN stays
// a (quiet) NaN rather than rounding into infinity.
HPCT_HD bf16 to_bf16(float f) {
  const std::uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return {static_cast<std::uint16_t>((u >> 16) | 0x0040u)};
  const std::uint32_t rounded = u + 0x7fffu + ((u >> 16) & 1u);
  return {static_cast<std::uint16_t>(rounded >> 16)};
}
HPCT_HD float to_float(bf16 h) { return bits_float(static_cast<std::uint32_t>(h.bits) << 16); }

// IEEE binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits; max 65504, subnormals down to 2^-24.
// Rounds to nearest, ties to even; overflow gives infinity (what a loss scaler watches for).
HPCT_HD f16 to_f16(float f) {
  const std::uint32_t u = float_bits(f);
  const std::uint16_t sign = static_cast<std::uint16_t>((u >> 16) & 0x8000u);
  const std::uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return {static_cast<std::uint16_t>(sign | 0x7e00u)};  // NaN
  if (a >= 0x477ff000u) return {static_cast<std::uint16_t>(sign | 0x7c00u)};  // rounds to >= 65520: inf
  if (a < 0x38800000u) {  // below 2^-14: a subnormal half (or zero), mantissa = round(|f| 2^24)
    if (a < 0x33000000u) return {sign};  // below 2^-25: rounds to zero
    const std::uint32_t exp = a >> 23, mant = (a & 0x7fffffu) | 0x800000u;
    const std::uint32_t shift = 126u - exp;  // |f| 2^24 = mant 2^(exp - 127 - 23 + 24)
    const std::uint32_t q = mant >> shift, rem = mant & ((1u << shift) - 1u), half = 1u << (shift - 1u);
    const std::uint32_t r = q + ((rem > half || (rem == half && (q & 1u))) ? 1u : 0u);
    return {static_cast<std::uint16_t>(sign | r)};
  }
  // Normal: rebias the exponent (127 -> 15) and round 13 mantissa bits away; a carry into the
  // exponent is the correct rounding up.
  const std::uint32_t r = a - 0x38000000u + 0xfffu + ((a >> 13) & 1u);
  return {static_cast<std::uint16_t>(sign | (r >> 13))};
}
HPCT_HD float to_float(f16 h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h.bits & 0x8000u) << 16;
  const std::uint32_t exp = (h.bits >> 10) & 0x1fu, mant = h.bits & 0x3ffu;
  if (exp == 0x1f) return bits_float(sign | 0x7f800000u | (mant << 13));  // inf, NaN
  if (exp != 0) return bits_float(sign | ((exp + 112u) << 23) | (mant << 13));
  // Subnormal or zero: mant 2^-24, exact in float.
  const float v = static_cast<float>(mant) * 5.9604644775390625e-8f;
  return sign ? -v : v;
}

}  // namespace hpct
