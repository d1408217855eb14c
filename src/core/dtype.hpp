#pragma once
// Element types. Precision is a run-time policy: a tensor carries its dtype and kernels dispatch on it.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/half.hpp"

namespace hpct {

enum class DType : std::uint8_t { f32, f64, f16, bf16, i32, i64 };

constexpr std::size_t size_of(DType t) {
  switch (t) {
    case DType::f64: case DType::i64: return 8;
    case DType::f32: case DType::i32: return 4;
    case DType::f16: case DType::bf16: return 2;
  }
  return 0;
}

constexpr const char* name_of(DType t) {
  switch (t) {
    case DType::f32: return "float32";
    case DType::f64: return "float64";
    case DType::f16: return "float16";
    case DType::bf16: return "bfloat16";
    case DType::i32: return "int32";
    case DType::i64: return "int64";
  }
  return "?";
}

constexpr bool is_float(DType t) { return t != DType::i32 && t != DType::i64; }
// "float32" / "fp32" / "f32", "bfloat16" / "bf16", "float16" / "fp16" / "f16" (the --precision values);
// false for anything else.
inline bool parse_float_dtype(const std::string& s, DType& out) {
  if (s == "fp32" || s == "float32" || s == "f32") out = DType::f32;
  else if (s == "bf16" || s == "bfloat16") out = DType::bf16;
  else if (s == "fp16" || s == "float16" || s == "f16") out = DType::f16;
  else return false;
  return true;
}
constexpr bool is_half(DType t) { return t == DType::f16 || t == DType::bf16; }

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<double>() { return DType::f64; }
template <> constexpr DType dtype_of<bf16>() { return DType::bf16; }
template <> constexpr DType dtype_of<f16>() { return DType::f16; }
template <> constexpr DType dtype_of<std::int32_t>() { return DType::i32; }
template <> constexpr DType dtype_of<std::int64_t>() { return DType::i64; }

}  // namespace hpct
