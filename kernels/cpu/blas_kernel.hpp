#pragma once
// Which OpenBLAS kernel family this process runs, and whether it should run another. Debian's OpenBLAS
// (DYNAMIC_ARCH) picks its kernels by CPU model when it loads; a model it does not know (new nodes:
// the Xeon of family 6 model 207 here) falls back to the SSE3 "Prescott" kernels, measured 3-4x
// slower than AVX-512's on that CPU. OPENBLAS_CORETYPE, read when the library loads, overrides it.
#include <string>

namespace hpct::kernels {

// The kernel family OpenBLAS selected (openblas_get_corename), e.g. "SkylakeX", "Haswell", "Prescott".
std::string blas_core();
// The vector extensions of this CPU that matter for GEMM kernels, e.g. "avx512f avx2 fma".
std::string cpu_vector_features();
// The OPENBLAS_CORETYPE this process should be started with: "SkylakeX" on a CPU with AVX-512 (F, BW,
// DQ, VL) and "Haswell" on one with AVX2 and FMA, when OpenBLAS picked an older family; empty when
// its pick is right, or when the user set OPENBLAS_CORETYPE (their choice is kept).
std::string better_blas_coretype();

}  // namespace hpct::kernels
