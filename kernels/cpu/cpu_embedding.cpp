// CpuBackend: token embedding lookup and tabular feature tokens, with their backward. The gradient sums
// are deterministic without atomics: each thread owns whole output columns (embedding) or whole
// features (feature tokens) and adds the rows into them in a fixed order.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_backend.hpp"
#include "kernels/cpu/cpu_common.hpp"

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

// ids i32 (any shape, P positions); table [V, D]; rows [P, D] of table's dtype (out or dout). Every id
// in [0, V), else an error naming its position and value.
void check_embedding(const char* k, const Tensor& ids, const Tensor& table, const char* table_name,
                     const Tensor& rows, const char* rows_name) {
  cpu::check_host(k, "ids", ids);
  HPCT_CHECK(ids.dtype == DType::i32, k, ": ids must be int32, got ", name_of(ids.dtype));
  cpu::check_float(k, table_name, table);
  HPCT_CHECK(table.rank() == 2, k, ": ", table_name, " must be [V, D], got ", table.shape.str());
  cpu::check_float(k, rows_name, rows);
  cpu::check_same_dtype(k, table_name, table, rows_name, rows);
  const std::int64_t vocab = table.dim(0), width = table.dim(1);
  HPCT_CHECK(rows.cols() == width && rows.numel() == ids.numel() * width, k, ": ", rows_name, " is ",
             rows.shape.str(), ", expected ids ", ids.shape.str(), " by ", width, " (", table_name, " ",
             table.shape.str(), ")");
  const std::int32_t* id = ids.as<std::int32_t>();
  for (std::int64_t i = 0; i < ids.numel(); ++i)
    HPCT_CHECK(id[i] >= 0 && id[i] < vocab, k, ": ids", index_str(ids.shape, i), " = ", id[i],
               " is outside [0, ", vocab, ") (", table_name, " ", table.shape.str(), ")");
}

}  // namespace

// out[p, :] = table[ids[p], :], row copies in parallel.
void CpuBackend::embedding_forward(const Tensor& ids, const Tensor& table, const Tensor& out) {
  constexpr const char* k = "embedding_forward";
  check_embedding(k, ids, table, "table", out, "out");
  const std::int32_t* id = ids.as<std::int32_t>();
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
void CpuBackend::embedding_backward(const Tensor& ids, const Tensor& dout, const Tensor& dtable) {
  constexpr const char* k = "embedding_backward";
  check_embedding(k, ids, dtable, "dtable", dout, "dout");
  const std::int32_t* id = ids.as<std::int32_t>();
  const std::int64_t positions = ids.numel(), width = dtable.cols();
  cpu::dispatch_float(k, dtable.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* g = dout.as<T>();
    T* dt = dtable.as<T>();
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

namespace {

// x [N, F], w and b [F, D], tokens [N, F, D] (out or dout). Returns D.
std::int64_t check_feature_tokens(const char* k, const Tensor& x, const Tensor& w, const Tensor& b,
                                  const char* b_name, const Tensor& tokens, const char* tokens_name) {
  cpu::check_float(k, "x", x);
  HPCT_CHECK(x.rank() == 2, k, ": x must be [N, F], got ", x.shape.str());
  cpu::check_float(k, "w", w);
  cpu::check_same_dtype(k, "x", x, "w", w);
  HPCT_CHECK(w.rank() == 2 && w.dim(0) == x.dim(1), k, ": w is ", w.shape.str(), ", expected [", x.dim(1),
             ", D] for x ", x.shape.str());
  cpu::check_like(k, "w", w, b_name, b);
  cpu::check_float(k, tokens_name, tokens);
  cpu::check_same_dtype(k, "x", x, tokens_name, tokens);
  HPCT_CHECK(tokens.shape == Shape({x.dim(0), x.dim(1), w.dim(1)}), k, ": ", tokens_name, " is ",
             tokens.shape.str(), ", expected [", x.dim(0), ", ", x.dim(1), ", ", w.dim(1), "]");
  return w.dim(1);
}

}  // namespace

// out[n, f, :] = x[n, f] w[f, :] + b[f, :], samples in parallel.
void CpuBackend::feature_tokens_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& out) {
  constexpr const char* k = "feature_tokens_forward";
  const std::int64_t width = check_feature_tokens(k, x, w, b, "b", out, "out");
  const std::int64_t features = x.dim(1), token_row = features * width;
  cpu::dispatch_float(k, x.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* xp = x.as<T>();
    const T* wp = w.as<T>();
    const T* bp = b.as<T>();
    T* op = out.as<T>();
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
void CpuBackend::feature_tokens_backward(const Tensor& x, const Tensor& w, const Tensor& dout, const Tensor& dx,
                                         const Tensor& dw, const Tensor& db) {
  constexpr const char* k = "feature_tokens_backward";
  const std::int64_t width = check_feature_tokens(k, x, w, dw, "dw", dout, "dout");
  cpu::check_like(k, "w", w, "db", db);
  const bool want_dx = !dx.empty();
  if (want_dx) cpu::check_like(k, "x", x, "dx", dx);
  const std::int64_t samples = x.dim(0), features = x.dim(1), token_row = features * width;
  cpu::dispatch_float(k, x.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* xp = x.as<T>();
    const T* wp = w.as<T>();
    const T* gp = dout.as<T>();
    T* dxp = want_dx ? dx.as<T>() : nullptr;
    T* dwp = dw.as<T>();
    T* dbp = db.as<T>();
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
