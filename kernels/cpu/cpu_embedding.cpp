// CpuBackend: token embedding lookup and tabular feature tokens, with their backward. The gradient sums
// are deterministic without atomics: each thread owns whole output columns (embedding) or whole
// features (feature tokens) and adds the rows into them in a fixed order.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_backend.hpp"
#include "kernels/cpu/cpu_common.hpp"
#include "kernels/cpu/cpu_widen.hpp"

namespace hpct::kernels {
namespace {

// Columns of the embedding gradient per thread block: each block sums all positions into its columns.
constexpr std::int64_t kEmbeddingGradCols = 64;

// "[n, l]" for flat index i of a tensor of this shape.
std::string index_str(const Shape& shape, std::int64_t i) {
  std::vector<std::int64_t> idx(static_cast<std::size_t>(std::max(shape.rank(), 1)), 0);
  for (int d = shape.rank() - 1; d >= 0; --d) {
    idx[static_cast<std::size_t>(d)] = shape[d] ? i % shape[d] : 0;
    i = shape[d] ? i / shape[d] : 0;
  }
  std::string s = "[";
  for (std::size_t d = 0; d < idx.size(); ++d) s += (d ? ", " : "") + std::to_string(idx[d]);
  return s + "]";
}

// The ids, each checked to lie in [0, V) (the error names its position and value).
const std::int32_t* checked_ids(const char* k, const Tensor& ids, const Tensor& table, const char* table_name) {
  const std::int64_t vocab = table.dim(0);
  const std::int32_t* id = ids.ptr<std::int32_t>();
  for (std::int64_t i = 0; i < ids.numel(); ++i)
    HPCT_CHECK(id[i] >= 0 && id[i] < vocab, k, ": ids", index_str(ids.shape, i), " = ", id[i], " is outside [0, ",
               vocab, ") (", table_name, " ", table.shape.str(), ")");
  return id;
}

}  // namespace

// out[p, :] = table[ids[p], :], row copies in parallel (any dtype: 16-bit rows are copied as they are).
void CpuBackend::embedding_forward_impl(const Tensor& ids, const Tensor& table, const Tensor& out) {
  const std::int32_t* id = checked_ids("embedding_forward", ids, table, "table");
  const std::size_t row_bytes = static_cast<std::size_t>(table.cols()) * size_of(table.dtype);
  if (row_bytes == 0) return;
  const char* src = static_cast<const char*>(table.data);
  char* dst = static_cast<char*>(out.data);
  cpu::parallel_blocks(threads_, ids.numel(), cpu::rows_per_block(table.cols(), cpu::kGrainCheap),
                       [=](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i)
      std::memcpy(dst + static_cast<std::size_t>(i) * row_bytes, src + static_cast<std::size_t>(id[i]) * row_bytes,
                  row_bytes);
  });
}

// dtable[ids[p], :] += dout[p, :] for p in order. Threads own blocks of kEmbeddingGradCols columns, so
// every element of dtable receives its terms in position order on one thread: no atomics, the same bits
// for any thread count. (Sums in the tensor's precision, as the additions into dtable happen anyway.)
void CpuBackend::embedding_backward_impl(const Tensor& ids, const Tensor& dout, const Tensor& dtable) {
  if (widened([&](const Tensor& g32, const Tensor& dt32) { CpuBackend::embedding_backward_impl(ids, g32, dt32); },
              cpu::in(dout), cpu::inout(dtable)))
    return;
  constexpr const char* k = "embedding_backward";
  const std::int32_t* id = checked_ids(k, ids, dtable, "dtable");
  const std::int64_t positions = ids.numel(), width = dtable.cols();
  cpu::dispatch_float(k, dtable.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* g = dout.ptr<T>();
    T* dt = dtable.ptr<T>();
    cpu::parallel_blocks(positions * width >= cpu::kGrainCheap ? threads_ : 1, width, kEmbeddingGradCols,
                         [=](std::int64_t c0, std::int64_t c1) {
      for (std::int64_t p = 0; p < positions; ++p) {
        const T* src = g + p * width;
        T* dst = dt + static_cast<std::int64_t>(id[p]) * width;
        for (std::int64_t c = c0; c < c1; ++c) dst[c] += src[c];
      }
    });
  });
}

// out[n, f, :] = x[n, f] w[f, :] + b[f, :], samples in parallel.
void CpuBackend::feature_tokens_forward_impl(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& out) {
  if (widened([&](const Tensor& x32, const Tensor& w32, const Tensor& b32,
                  const Tensor& out32) { CpuBackend::feature_tokens_forward_impl(x32, w32, b32, out32); },
              cpu::in(x), cpu::in(w), cpu::in(b), cpu::out(out)))
    return;
  const std::int64_t width = w.dim(1), features = x.dim(1), token_row = features * width;
  cpu::dispatch_float("feature_tokens_forward", x.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* xp = x.ptr<T>();
    const T* wp = w.ptr<T>();
    const T* bp = b.ptr<T>();
    T* op = out.ptr<T>();
    cpu::parallel_blocks(threads_, x.dim(0), cpu::rows_per_block(token_row, cpu::kGrainCheap),
                         [=](std::int64_t n0, std::int64_t n1) {
      for (std::int64_t n = n0; n < n1; ++n)
        for (std::int64_t f = 0; f < features; ++f) {
          const T xv = xp[n * features + f];
          const T* wr = wp + f * width;
          const T* br = bp + f * width;
          T* o = op + n * token_row + f * width;
#pragma omp simd
          for (std::int64_t c = 0; c < width; ++c) o[c] = xv * wr[c] + br[c];
        }
    });
  });
}

// Per feature f (features in parallel; each sums its samples in order, in double):
//   dx[n, f] = dot(dout[n, f, :], w[f, :]);  dw[f, :] += sum_n x[n, f] dout[n, f, :];
//   db[f, :] += sum_n dout[n, f, :].
void CpuBackend::feature_tokens_backward_impl(const Tensor& x, const Tensor& w, const Tensor& dout, const Tensor& dx,
                                              const Tensor& dw, const Tensor& db) {
  if (widened([&](const Tensor& x32, const Tensor& w32, const Tensor& g32, const Tensor& dx32, const Tensor& dw32,
                  const Tensor& db32) { CpuBackend::feature_tokens_backward_impl(x32, w32, g32, dx32, dw32, db32); },
              cpu::in(x), cpu::in(w), cpu::in(dout), cpu::out(dx), cpu::inout(dw), cpu::inout(db)))
    return;
  const bool want_dx = !dx.empty();
  const std::int64_t width = w.dim(1), samples = x.dim(0), features = x.dim(1), token_row = features * width;
  cpu::dispatch_float("feature_tokens_backward", x.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* xp = x.ptr<T>();
    const T* wp = w.ptr<T>();
    const T* gp = dout.ptr<T>();
    T* dxp = want_dx ? dx.ptr<T>() : nullptr;
    T* dwp = dw.ptr<T>();
    T* dbp = db.ptr<T>();
    std::vector<double> acc(static_cast<std::size_t>(2 * token_row));  // per feature: sum x g, sum g
    double* accp = acc.data();
    cpu::parallel_blocks(threads_, features, cpu::rows_per_block(samples * width, cpu::kGrainMath),
                         [=](std::int64_t f0, std::int64_t f1) {
      for (std::int64_t f = f0; f < f1; ++f) {
        double* aw = accp + 2 * f * width;
        double* ab = aw + width;
        const T* wr = wp + f * width;
        for (std::int64_t n = 0; n < samples; ++n) {
          const T* g = gp + n * token_row + f * width;
          const double xv = static_cast<double>(xp[n * features + f]);
          double dot = 0.0;
#pragma omp simd reduction(+ : dot)
          for (std::int64_t c = 0; c < width; ++c) {
            const double gc = static_cast<double>(g[c]);
            aw[c] += xv * gc;
            ab[c] += gc;
            dot += gc * static_cast<double>(wr[c]);
          }
          if (dxp) dxp[n * features + f] = static_cast<T>(dot);
        }
        for (std::int64_t c = 0; c < width; ++c) {
          dwp[f * width + c] = static_cast<T>(static_cast<double>(dwp[f * width + c]) + aw[c]);
          dbp[f * width + c] = static_cast<T>(static_cast<double>(dbp[f * width + c]) + ab[c]);
        }
      }
    });
  });
}

}  // namespace hpct::kernels
