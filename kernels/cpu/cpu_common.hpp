#pragma once
// Internals shared by the CPU backend's translation units (not part of the kernel API): argument
// checks, dtype dispatch, and the OpenMP loop helpers.
//
// Threading rules
// - Loops are cut into blocks whose size depends only on the problem shape, never on the thread count;
//   a loop forks only when it has more than one block, so tiny tensors (a 128 x 64 batch of a small
//   MLP) never pay OpenMP's fork/join cost for cheap operations.
// - Reductions compute one double partial per block and add the partials in block order on the
//   calling thread: the result is bit-identical for any number of threads. No atomics.
// - Nothing inside a parallel region throws: every check runs before the loop.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/error.hpp"
#include "core/tensor.hpp"

namespace hpct::kernels::cpu {

// Elements per block. Memory-bound loops (copy, fill, axpy, relu) need big blocks to be worth a
// thread; loops with transcendentals or Philox pay off sooner.
inline constexpr std::int64_t kGrainCheap = std::int64_t{1} << 15;
inline constexpr std::int64_t kGrainMath = std::int64_t{1} << 12;
// Elements per partial sum of a reduction (fixed: it defines the summation order).
inline constexpr std::int64_t kReduceChunk = std::int64_t{1} << 14;
// Column sums run this many rows in the tensor's precision (8-wide float vectors) before each partial
// goes into a double accumulator: a float sum of 16 terms keeps a relative error near 1e-7.
inline constexpr std::int64_t kRowsInT = 16;

// Rows per block for per-row kernels on rows of `cols` elements, aiming at `grain` elements a block.
inline std::int64_t rows_per_block(std::int64_t cols, std::int64_t grain) {
  return std::max<std::int64_t>(1, grain / std::max<std::int64_t>(cols, 1));
}

// ---- checks ---------------------------------------------------------------------------------------

inline void check_host(const char* kernel, const char* what, const Tensor& t) {
  HPCT_CHECK(t.device.is_cpu(), kernel, ": ", what, " is on ", t.device.str(), ", the cpu backend needs host memory");
  HPCT_CHECK(t.data != nullptr || t.numel() == 0, kernel, ": ", what, " ", t.shape.str(), " has no data");
}

// A host tensor of a floating-point dtype (dispatch_float then rejects the ones not supported yet).
inline void check_float(const char* kernel, const char* what, const Tensor& t) {
  check_host(kernel, what, t);
  HPCT_CHECK(is_float(t.dtype), kernel, ": ", what, " must be a floating-point tensor, got ", name_of(t.dtype));
}

inline void check_same_dtype(const char* kernel, const char* what_a, const Tensor& a, const char* what_b,
                             const Tensor& b) {
  HPCT_CHECK(a.dtype == b.dtype, kernel, ": dtypes differ: ", what_a, " is ", name_of(a.dtype), ", ", what_b,
             " is ", name_of(b.dtype));
}

inline void check_same_shape(const char* kernel, const char* what_a, const Tensor& a, const char* what_b,
                             const Tensor& b) {
  HPCT_CHECK(a.shape == b.shape, kernel, ": shapes differ: ", what_a, " is ", a.shape.str(), ", ", what_b, " is ",
             b.shape.str());
}

inline void check_same_numel(const char* kernel, const char* what_a, const Tensor& a, const char* what_b,
                             const Tensor& b) {
  HPCT_CHECK(a.numel() == b.numel(), kernel, ": sizes differ: ", what_a, " ", a.shape.str(), " has ", a.numel(),
             " elements, ", what_b, " ", b.shape.str(), " has ", b.numel());
}

// A float tensor b of a's dtype and shape.
inline void check_like(const char* kernel, const char* what_a, const Tensor& a, const char* what_b,
                       const Tensor& b) {
  check_float(kernel, what_b, b);
  check_same_dtype(kernel, what_a, a, what_b, b);
  check_same_shape(kernel, what_a, a, what_b, b);
}

// A float tensor v of a's dtype with n elements (a per-row or per-column vector).
inline void check_vector(const char* kernel, const char* what_a, const Tensor& a, const char* what_v,
                         const Tensor& v, std::int64_t n, const char* n_means) {
  check_float(kernel, what_v, v);
  check_same_dtype(kernel, what_a, a, what_v, v);
  HPCT_CHECK(v.numel() == n, kernel, ": ", what_v, " ", v.shape.str(), " has ", v.numel(), " elements, expected ",
             n, " (", n_means, " of ", what_a, " ", a.shape.str(), ")");
}

// ---- dtype dispatch -------------------------------------------------------------------------------

// Calls f(float{}) or f(double{}) after the tensor dtype; other dtypes throw naming the kernel.
template <class F>
decltype(auto) dispatch_float(const char* kernel, DType dtype, F&& f) {
  switch (dtype) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    default: break;
  }
  fail(kernel, ": dtype ", name_of(dtype), " is not supported by the cpu backend yet (float32 and float64 are)");
}

// ---- loops ----------------------------------------------------------------------------------------

// body(begin, end) over [0, n) in blocks of `grain`; the blocks run in parallel when there is more
// than one. Only for loops whose results do not depend on how [0, n) is cut.
template <class F>
void parallel_blocks(int threads, std::int64_t n, std::int64_t grain, F&& body) {
  if (n <= 0) return;
  grain = std::max<std::int64_t>(grain, 1);
  const std::int64_t blocks = (n + grain - 1) / grain;
  if (blocks == 1 || threads <= 1) {
    body(std::int64_t{0}, n);
    return;
  }
#pragma omp parallel for num_threads(threads) schedule(static) if (blocks > 1)
  for (std::int64_t b = 0; b < blocks; ++b) body(b * grain, std::min(n, (b + 1) * grain));
}

// Sum over [0, n) of partial(begin, end) -> double, one call per chunk of `chunk`, the partials added
// in chunk order: the same bits for any thread count.
template <class F>
double chunked_sum(int threads, std::int64_t n, std::int64_t chunk, F&& partial) {
  if (n <= 0) return 0.0;
  chunk = std::max<std::int64_t>(chunk, 1);
  const std::int64_t chunks = (n + chunk - 1) / chunk;
  if (chunks == 1) return partial(std::int64_t{0}, n);
  std::vector<double> part(static_cast<std::size_t>(chunks));
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
  for (std::int64_t c = 0; c < chunks; ++c) part[c] = partial(c * chunk, std::min(n, (c + 1) * chunk));
  double sum = 0.0;
  for (const double p : part) sum += p;
  return sum;
}

// Column sums over row chunks: body(r0, r1, acc) adds rows [r0, r1) into acc[0, width) (zeroed by the
// caller of body); the chunk partials are added in chunk order into out[0, width). Returns nothing
// but leaves out = the full sums, bit-identical for any thread count.
template <class F>
void chunked_column_sums(int threads, std::int64_t rows, std::int64_t chunk_rows, std::int64_t width,
                         std::vector<double>& out, F&& body) {
  out.assign(static_cast<std::size_t>(width), 0.0);
  if (rows <= 0) return;
  chunk_rows = std::max<std::int64_t>(chunk_rows, 1);
  const std::int64_t chunks = (rows + chunk_rows - 1) / chunk_rows;
  if (chunks == 1) {
    body(std::int64_t{0}, rows, out.data());
    return;
  }
  std::vector<double> part(static_cast<std::size_t>(chunks * width), 0.0);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
  for (std::int64_t c = 0; c < chunks; ++c)
    body(c * chunk_rows, std::min(rows, (c + 1) * chunk_rows), part.data() + c * width);
  for (std::int64_t c = 0; c < chunks; ++c) {
    const double* p = part.data() + c * width;
    for (std::int64_t j = 0; j < width; ++j) out[j] += p[j];
  }
}

}  // namespace hpct::kernels::cpu
