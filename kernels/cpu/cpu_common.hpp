#pragma once
// Internals shared by the CPU backend's translation units (not part of the kernel API): checks of
// values in device memory, dtype dispatch, and the OpenMP loop helpers. (Shapes, dtypes and devices
// are checked once, by the public Backend methods: kernels/validate.hpp.)
//
// Threading rules
// - Loops are cut into blocks whose size depends only on the problem shape, never on the thread count;
//   a loop forks only when it has more than one block, so tiny tensors (a 128 x 64 batch of a small
//   MLP) never pay OpenMP's fork/join cost for cheap operations.
// - Reductions compute one double partial per block and add the partials in block order on the
//   calling thread: the result is bit-identical for any number of threads. No atomics.
// - Nothing inside a parallel region throws: every check runs before the loop.
// - gemm cuts C into at most 4 blocks of rows or columns by shape alone (cpu_backend.cpp, gemm_split),
//   one single-threaded OpenBLAS call each: C's bits do not change with the thread count either.
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

// ---- values in device memory ------------------------------------------------------------------------

// The lengths of a batch of sequences, each checked to lie in [1, len] (the error names the kernel,
// the sequence and the value), or nullptr when lengths is empty (every sequence is full).
inline const std::int32_t* checked_lengths(const char* kernel, const Tensor& lengths, std::int64_t batch,
                                           std::int64_t len) {
  if (lengths.empty()) return nullptr;
  const std::int32_t* l = lengths.ptr<std::int32_t>();
  for (std::int64_t n = 0; n < batch; ++n)
    HPCT_CHECK(l[n] >= 1 && l[n] <= len, kernel, ": lengths[", n, "] = ", l[n], " is outside [1, ", len, "]");
  return l;
}

// Row keys (dropout's row_ids), each checked to lie in [0, max_row] (the error names the kernel, the
// batch row and the value), or nullptr when row_ids is empty (keyed by batch position).
inline const std::int64_t* checked_row_ids(const char* kernel, const Tensor& row_ids, std::int64_t max_row) {
  if (row_ids.empty()) return nullptr;
  const std::int64_t* r = row_ids.ptr<std::int64_t>();
  for (std::int64_t n = 0; n < row_ids.numel(); ++n)
    HPCT_CHECK(r[n] >= 0 && r[n] <= max_row, kernel, ": row_ids[", n, "] = ", r[n], " is outside [0, ", max_row,
               "] (the Philox counters of its row would overflow)");
  return r;
}

// ---- dtype dispatch -------------------------------------------------------------------------------

// Calls f(float{}) or f(double{}) after the tensor dtype (16-bit tensors arrive widened to f32:
// cpu_widen.hpp); other dtypes throw naming the kernel.
template <class F>
decltype(auto) dispatch_float(const char* kernel, DType dtype, F&& f) {
  switch (dtype) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    default: break;
  }
  fail(kernel, ": dtype ", name_of(dtype), " reached a float32/float64 kernel");
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
