#include "kernels/cpu/blas_kernel.hpp"

#include <cblas.h>

#include <cstdlib>
#include <initializer_list>

namespace hpct::kernels {
namespace {

bool has_avx512() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
}
bool has_avx2_fma() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }

bool one_of(const std::string& core, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (core == n) return true;
  return false;
}

}  // namespace

std::string blas_core() {
  const char* name = openblas_get_corename();
  return name ? name : "unknown";
}

std::string cpu_vector_features() {
  std::string s;
  for (const auto& [flag, ok] : {std::pair{"avx512f", __builtin_cpu_supports("avx512f")},
                                 {"avx2", __builtin_cpu_supports("avx2")}, {"fma", __builtin_cpu_supports("fma")}})
    if (ok) {
      if (!s.empty()) s += ' ';
      s += flag;
    }
  return s.empty() ? "none of avx512f, avx2, fma" : s;
}

std::string better_blas_coretype() {
  if (const char* set = std::getenv("OPENBLAS_CORETYPE"); set && *set) return "";
  const std::string core = blas_core();
  // Families with AVX-512 kernels, and (also) those with AVX2 + FMA ones.
  const auto avx512 = {"SkylakeX", "Cooperlake", "SapphireRapids"};
  const auto avx2 = {"Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids"};
  if (has_avx512() && !one_of(core, avx512)) return "SkylakeX";
  if (has_avx2_fma() && !one_of(core, avx2)) return "Haswell";
  return "";
}

}  // namespace hpct::kernels
