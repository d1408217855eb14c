// CudaBackend::gemm_impl through cuBLASLt. Row-major C [m, n] = op(A) op(B) is computed as the
// column-major C^T [n, m] = op(B)^T op(A)^T: a row-major [r, c] matrix is a column-major [c, r] one
// with leading dimension c, so B goes first and no data moves. fp32, bf16 and fp16 accumulate in fp32
// (CUBLAS_COMPUTE_32F), fp64 in fp64. fp32 products use TF32 tensor cores only when the backend was made
// with tf32 (--precision.tf32: CUBLAS_COMPUTE_32F_FAST_TF32 rounds the inputs to a 10-bit mantissa,
// accumulating in fp32; about 8x the fp32 rate on A100/H100, relative error ~1e-3 instead of ~1e-6). Epilogues: BIAS (the bias is per row of C^T, i.e. per
// column of C) and GELU_AUX_BIAS for the tanh GELU (aux = the pre-activation, our C; D = y); other
// activations, and fp64, use the bias and activation kernels after the product. cuBLASLt's heuristic
// choice is cached per problem (dtype, shape, transposes, epilogue, beta, alignment).
#include <cublasLt.h>

#include <algorithm>
#include <cstdint>
#include <memory>

#include "core/error.hpp"
#include "kernels/cuda/cuda_backend.hpp"
#include "kernels/cuda/cuda_check.hpp"
#include "kernels/validate.hpp"

namespace hpct::kernels::cuda {
namespace {

struct LtTypes {
  cudaDataType_t data, scale;
  cublasComputeType_t compute;
};

LtTypes lt_types(DType t, bool tf32) {
  switch (t) {
    case DType::f32: return {CUDA_R_32F, CUDA_R_32F, tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F};
    case DType::f64: return {CUDA_R_64F, CUDA_R_64F, CUBLAS_COMPUTE_64F};
    case DType::bf16: return {CUDA_R_16BF, CUDA_R_32F, CUBLAS_COMPUTE_32F};
    case DType::f16: return {CUDA_R_16F, CUDA_R_32F, CUBLAS_COMPUTE_32F};
    default: fail("gemm: dtype ", name_of(t), " is not a floating-point type");
  }
}

// Owners of cuBLASLt descriptors (destroyed unchecked: nothing to do about a failure there).
struct Desc {
  cublasLtMatmulDesc_t d = nullptr;
  ~Desc() {
    if (d) (void)cublasLtMatmulDescDestroy(d);
  }
};
struct Layout {
  cublasLtMatrixLayout_t l = nullptr;
  // A column-major rows x cols matrix with leading dimension ld.
  Layout(cudaDataType_t t, std::int64_t rows, std::int64_t cols, std::int64_t ld) {
    HPCT_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&l, t, static_cast<std::uint64_t>(rows),
                                                 static_cast<std::uint64_t>(cols), ld));
  }
  ~Layout() {
    if (l) (void)cublasLtMatrixLayoutDestroy(l);
  }
  Layout(const Layout&) = delete;
  Layout& operator=(const Layout&) = delete;
};
struct Preference {
  cublasLtMatmulPreference_t p = nullptr;
  ~Preference() {
    if (p) (void)cublasLtMatmulPreferenceDestroy(p);
  }
};

// The largest power of two (<= 256) dividing every address: what the algorithm may assume.
std::uint32_t common_alignment(std::initializer_list<const void*> ptrs) {
  std::uintptr_t bits = 256;
  for (const void* p : ptrs)
    if (p) bits |= reinterpret_cast<std::uintptr_t>(p);
  return static_cast<std::uint32_t>(bits & (~bits + 1));
}

template <class T>
void set_attr(cublasLtMatmulDesc_t d, cublasLtMatmulDescAttributes_t a, const T& v) {
  HPCT_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d, a, &v, sizeof v));
}

}  // namespace

const cublasLtMatmulAlgo_t* CudaBackend::gemm_algo(const GemmKey& key, cublasLtMatmulDesc_t op,
                                                   cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                                                   cublasLtMatrixLayout_t c) {
  std::lock_guard lk(gemm_mutex_);
  auto it = gemm_algos_.find(key);
  if (it == gemm_algos_.end()) {
    Preference pref;
    HPCT_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref.p));
    HPCT_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref.p, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                           &lt_workspace_bytes_, sizeof lt_workspace_bytes_));
    // The pointers' alignment (the default preference assumes 256 bytes).
    for (const auto attr : {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                            CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES})
      HPCT_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref.p, attr, &key.align, sizeof key.align));
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    HPCT_CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(lt_, op, a, b, c, c, pref.p, 1, &result, &found));
    std::unique_ptr<cublasLtMatmulAlgo_t> algo;
    if (found > 0) algo = std::make_unique<cublasLtMatmulAlgo_t>(result.algo);
    it = gemm_algos_.emplace(key, std::move(algo)).first;
  }
  return it->second.get();
}

void CudaBackend::gemm_impl(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, const Tensor& c,
                            double alpha, double beta, const GemmEpilogue& epilogue) {
  const std::int64_t ar = validate::matrix_rows(a), ac = a.cols(), br = validate::matrix_rows(b), bc = b.cols();
  const std::int64_t m = validate::matrix_rows(c), n = c.cols(), k = trans_a ? ar : ac;
  const bool act = epilogue.y != nullptr;
  if (m == 0 || n == 0) return;
  if (k == 0) {  // C = beta C (+ bias), then f
    if (beta == 0.0) fill_impl(c, 0.0);
    else if (beta != 1.0) scale_impl(c, beta);
    if (epilogue.bias) bias_add_impl(c, *epilogue.bias);
    if (act) activation_forward_impl(epilogue.act, c, *epilogue.y);
    return;
  }
  const LtTypes t = lt_types(c.dtype, tf32_);
  const bool lt_bias = epilogue.bias && c.dtype != DType::f64;
  // The product (with the epilogue ep) on cuBLASLt; false when its heuristic has no algorithm.
  const auto matmul = [&](cublasLtEpilogue_t ep) {
    const bool gelu = ep == CUBLASLT_EPILOGUE_GELU_AUX_BIAS;
    const Tensor& out = gelu ? *epilogue.y : c;  // D; with GELU_AUX_BIAS the aux output is C
    Desc op;
    HPCT_CUBLAS_CHECK(cublasLtMatmulDescCreate(&op.d, t.compute, t.scale));
    set_attr(op.d, CUBLASLT_MATMUL_DESC_TRANSA, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N);
    set_attr(op.d, CUBLASLT_MATMUL_DESC_TRANSB, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N);
    set_attr(op.d, CUBLASLT_MATMUL_DESC_EPILOGUE, ep);
    if (ep != CUBLASLT_EPILOGUE_DEFAULT) set_attr(op.d, CUBLASLT_MATMUL_DESC_BIAS_POINTER, epilogue.bias->data);
    if (gelu) {
      set_attr(op.d, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, c.data);
      set_attr(op.d, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, n);
    }
    // Layouts describe the stored matrices (before op): row-major [r, c] is column-major [c, r], ld c.
    const Layout sb(t.data, bc, br, bc), sa(t.data, ac, ar, ac), ld(t.data, n, m, n);
    const std::uint32_t align =
        common_alignment({a.data, b.data, c.data, out.data, epilogue.bias ? epilogue.bias->data : nullptr});
    const GemmKey key{static_cast<int>(c.dtype), static_cast<int>(ep), m, n, k, trans_a, trans_b, beta != 0.0, align};
    const cublasLtMatmulAlgo_t* algo = gemm_algo(key, op.d, sb.l, sa.l, ld.l);
    if (!algo) return false;
    const float af = static_cast<float>(alpha), bf = static_cast<float>(beta);
    const void* pa = t.scale == CUDA_R_64F ? static_cast<const void*>(&alpha) : &af;
    const void* pb = t.scale == CUDA_R_64F ? static_cast<const void*>(&beta) : &bf;
    HPCT_CUBLAS_CHECK(cublasLtMatmul(lt_, op.d, pa, b.data, sb.l, a.data, sa.l, pb, out.data, ld.l, out.data, ld.l,
                                     algo, lt_workspace_, lt_workspace_bytes_, cur()));
    return true;
  };
  // GELU_AUX_BIAS where it fits (cuBLASLt's GELU is the tanh approximation; the aux matrix needs
  // ld % 8 == 0), else BIAS, else the plain product; the rest of the epilogue as kernels.
  if (act && lt_bias && epilogue.act == Activation::gelu_tanh && n % 8 == 0 && beta == 0.0 &&
      matmul(CUBLASLT_EPILOGUE_GELU_AUX_BIAS))
    return;
  const bool biased = lt_bias && matmul(CUBLASLT_EPILOGUE_BIAS);
  if (!biased)
    HPCT_CHECK(matmul(CUBLASLT_EPILOGUE_DEFAULT), "gemm: cuBLASLt has no algorithm for ", name_of(c.dtype), " [", m,
               ", ", k, "] x [", k, ", ", n, "]");
  if (epilogue.bias && !biased) bias_add_impl(c, *epilogue.bias);
  if (act) activation_forward_impl(epilogue.act, c, *epilogue.y);
}

}  // namespace hpct::kernels::cuda
