#pragma once
// Row-major BLAS products with explicit leading dimensions, for CPU kernels that run many small
// independent products in parallel themselves (attention: one task per sequence and head) and so need
// each BLAS call on one thread. Internal to the CPU backend, like cpu_common.hpp.
#include <cblas.h>
#include <omp.h>

#include <type_traits>

// OpenBLAS's own entry point (both the pthread and the OpenMP build have it). The OpenMP build
// (HPCTRAIN_OPENBLAS_OPENMP) shares OpenMP's pool and follows omp_get_max_threads() of the calling
// thread; the pthread build owns a second pool. CpuBackend keeps OpenBLAS at one thread per call and
// parallelises gemm itself (a few calls on blocks of C), so two pools never spin on the same cores.
extern "C" void openblas_set_num_threads(int);

namespace hpct::kernels::cpu {

// C[m, n] = alpha op(A)[m, k] op(B)[k, n] + beta C on row-major strided matrices (lda, ldb, ldc in
// elements), one cblas_?gemm call. Callers have checked that every extent fits an int.
template <class T>
void blas_gemm(bool trans_a, bool trans_b, int m, int n, int k, T alpha, const T* a, int lda, const T* b, int ldb,
               T beta, T* c, int ldc) {
  const auto ta = trans_a ? CblasTrans : CblasNoTrans, tb = trans_b ? CblasTrans : CblasNoTrans;
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  else
    cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// Runs f() with this thread's OpenMP count at 1, so the OpenMP build of OpenBLAS does not fork (the
// same rule as CpuBackend::gemm). Inside a parallel region OpenBLAS is single-threaded already.
template <class F>
void single_threaded_blas(F&& f) {
  if (omp_in_parallel()) {
    f();
    return;
  }
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  f();
  omp_set_num_threads(saved);
}

// body(task, scratch) for task in [0, tasks): in parallel on `threads` threads when there is more than
// one task, each thread with its own `scratch_per_thread` elements of `scratch` (sized threads x that
// by the caller), every BLAS call single-threaded. Only for tasks that write disjoint outputs.
template <class T, class F>
void parallel_blas_tasks(int threads, std::int64_t tasks, T* scratch, std::int64_t scratch_per_thread, F&& body) {
  if (tasks <= 0) return;
  if (threads <= 1 || tasks == 1) {
    single_threaded_blas([&] {
      for (std::int64_t t = 0; t < tasks; ++t) body(t, scratch);
    });
    return;
  }
#pragma omp parallel for num_threads(threads) schedule(static)
  for (std::int64_t t = 0; t < tasks; ++t) body(t, scratch + omp_get_thread_num() * scratch_per_thread);
}

}  // namespace hpct::kernels::cpu
