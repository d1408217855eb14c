// CpuBackend: fused multi-head scaled-dot-product attention. One task per (sequence, head), tasks in
// parallel; inside a task, single-threaded BLAS (plain loops for small heads, see head_gemm) directly
// on the strided head views of the fused qkv layout (leading dimension 3D, no gather copies), with the mask, the stable softmax and the dropout
// fused into one pass over each row of scores. Tasks write disjoint parts of the outputs, so the bits do
// not depend on the thread count.
//
// Causal attention runs in blocks of kCausalBlock query rows: block [i0, i1) needs keys < i1 only, so
// the products skip most of the zero triangle above the diagonal. Key padding shrinks every product to
// the valid keys.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>

#include "core/philox.hpp"
#include "kernels/common/math.hpp"
#include "kernels/cpu/cpu_backend.hpp"
#include "kernels/cpu/cpu_blas.hpp"
#include "kernels/cpu/cpu_common.hpp"
#include "kernels/cpu/cpu_vmath.hpp"
#include "kernels/cpu/cpu_widen.hpp"

namespace hpct::kernels {
namespace {

constexpr std::int64_t kCausalBlock = 64;

struct Geometry {
  std::int64_t batch, len, d, heads, dh;
  std::int64_t tasks() const { return batch * heads; }
};

// The extents of qkv [N, L, 3D] with H heads (validated by the public methods).
Geometry geometry(const Tensor& qkv, std::int64_t heads) {
  const std::int64_t d = qkv.dim(2) / 3;
  return {qkv.dim(0), qkv.dim(1), d, heads, d / heads};
}

// The visible keys: sequence n has kv valid keys; row block [i0, i1) needs columns [0, block_cols); row i
// sees columns [0, row_cols(i)).
struct Visibility {
  std::int64_t kv;
  bool causal;
  std::int64_t block_cols(std::int64_t i1) const { return causal ? std::min(i1, kv) : kv; }
  std::int64_t row_cols(std::int64_t i) const { return causal ? std::min(i + 1, kv) : kv; }
};

// dst[j] = keep(e0 + j) ? src[j] / (1 - p) : 0 for j in [0, count), keep(e) = philox_uniform(seed,
// stream, c(e)) >= p: dropout_forward's rule (division included) at flat index e of P, c = e or, with
// row keys, math::keyed_index (rows of H L L elements). e0 .. e0 + count - 1 lie in one row of P, so
// their counters are consecutive too. dst may alias src.
template <class T>
struct DropMask {
  std::uint32_t threshold;
  T keep_prob;
  std::uint64_t seed, stream;
  const std::int64_t* row_ids;  // checked by attention_row_ids
  std::int64_t per_row;
  DropMask(const AttentionArgs& a, const Geometry& g)
      : threshold(math::dropout_threshold(a.dropout_p)), keep_prob(static_cast<T>(1.0 - a.dropout_p)),
        seed(a.seed), stream(a.stream), row_ids(a.row_ids.empty() ? nullptr : a.row_ids.ptr<std::int64_t>()),
        per_row(g.heads * g.len * g.len) {}
  void apply(const T* src, T* dst, std::int64_t count, std::uint64_t e0) const {
    const std::uint64_t c0 = math::keyed_index(row_ids, static_cast<std::int64_t>(e0), per_row);
    std::int64_t j = 0;
    while (j < count) {
      const std::uint64_t e = c0 + static_cast<std::uint64_t>(j);
      const U32x4 r = philox4x32(seed, e / 4, stream);  // lanes of elements 4 (e / 4) .. 4 (e / 4) + 3
      const std::int64_t end = std::min<std::int64_t>(count, j + static_cast<std::int64_t>(4 - e % 4));
      for (std::uint64_t lane = e % 4; j < end; ++j, ++lane)
        dst[j] = math::dropout_keep(r.v[lane], threshold) ? src[j] / keep_prob : T(0);
    }
  }
};

// The row keys' values checked before the parallel tasks (DropMask reads them).
void check_attention_row_ids(const char* k, const AttentionArgs& a, const Geometry& g) {
  if (a.dropout_p > 0.0) cpu::checked_row_ids(k, a.row_ids, math::max_row_key(g.heads * g.len * g.len));
}

// Sum of x[0, n) in double as 8 interleaved partial sums (element j into partial j % 8, the partials
// added pairwise): a fixed order, and independent additions that vectorise without a serial chain.
template <class T>
double sum_double(const T* x, std::int64_t n) {
  double part[8] = {};
  std::int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int k = 0; k < 8; ++k) part[k] += static_cast<double>(x[j + k]);
  for (int k = 0; j < n; ++j, ++k) part[k] += static_cast<double>(x[j]);
  return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}

// row[0, visible) = softmax(row[0, visible)) (stable: minus the max; exp in T, sum in double);
// row[visible, len) = 0.
template <class T>
void masked_softmax_row(T* row, std::int64_t visible, std::int64_t len) {
  T mx = row[0];
#pragma omp simd reduction(max : mx)
  for (std::int64_t j = 1; j < visible; ++j) mx = math::hd_max(mx, row[j]);
#pragma omp simd
  for (std::int64_t j = 0; j < visible; ++j) row[j] = cpu::CpuOps::exp(row[j] - mx);
  const T inv = static_cast<T>(1.0 / sum_double(row, visible));
#pragma omp simd
  for (std::int64_t j = 0; j < visible; ++j) row[j] *= inv;
  for (std::int64_t j = visible; j < len; ++j) row[j] = T(0);
}

// Pointers of task (n, h): the head's columns of Q, K, V (leading dimension 3D), of out / dout
// (leading dimension D), and its [L, L] probability matrix.
template <class T>
struct HeadViews {
  std::int64_t n, h;
  const T* q;
  const T* k;
  const T* v;
  std::int64_t ld_qkv;
  std::int64_t probs_offset;
  std::int64_t out_offset;  // of row 0 of the head in out / dout [N, L, D]
  std::int64_t qkv_offset;  // of row 0 of the head's Q in qkv / dqkv [N, L, 3D]
  HeadViews(const Geometry& g, const T* qkv, std::int64_t task) : n(task / g.heads), h(task % g.heads) {
    ld_qkv = 3 * g.d;
    qkv_offset = n * g.len * ld_qkv + h * g.dh;
    q = qkv + qkv_offset;
    k = q + g.d;
    v = q + 2 * g.d;
    probs_offset = task * g.len * g.len;
    out_offset = n * g.len * g.d + h * g.dh;
  }
};

int as_int(std::int64_t v) { return static_cast<int>(v); }

// Products under this many multiply-adds (the tabular shape: 20 tokens, head width 32, ~13k) run as
// plain loops: there a BLAS call's fixed cost (argument checks, packing both panels) exceeds the
// arithmetic, and attention took 10% of a tabular training step for 2.5% of its FLOPs. The choice
// depends on the shape only, so the bits still do not depend on the thread count.
constexpr double kSmallProductMacs = 65536.0;

// Register block of the small-product path: kRowBlock rows of C by two 32-byte vectors of columns (16
// floats or 8 doubles): 8 independent accumulator chains, enough to keep both FMA pipes busy.
constexpr std::int64_t kRowBlock = 4, kVectorBytes = 32, kMaxColBlock = 2 * kVectorBytes / sizeof(float);
std::int64_t round_up(std::int64_t n, std::int64_t to) { return (n + to - 1) / to * to; }
// Elements of head_gemm's tmp for products of up to [rows, dh] x [dh, cols] with rows, cols <= len.
std::int64_t head_gemm_tmp(std::int64_t len, std::int64_t dh) {
  return std::max(len, dh) * round_up(std::max(len, dh), kMaxColBlock);
}

// C[m, n] = alpha op(A)[m, k] op(B)[k, n] (beta 0) for one head. Small products: op(B), unless it is
// B with whole column blocks, is copied into tmp as [k, n] rows zero-padded to whole blocks, then each block of C is summed over k in
// accumulators held in registers (g++ vector types; a plain array was spilled to the stack) and stored
// once: accumulating in C itself would chain every FMA through a store and a reload.
template <class T>
void head_gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a,
               std::int64_t lda, const T* b, std::int64_t ldb, T* c, std::int64_t ldc, T* tmp) {
  if (static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) > kSmallProductMacs) {
    cpu::blas_gemm<T>(trans_a, trans_b, as_int(m), as_int(n), as_int(k), alpha, a, as_int(lda), b, as_int(ldb), T(0),
                      c, as_int(ldc));
    return;
  }
  typedef T Vec __attribute__((vector_size(kVectorBytes)));
  constexpr std::int64_t lanes = kVectorBytes / sizeof(T), col_block = 2 * lanes;
  // op(B) as rows of whole column blocks: B itself when it has them, else a padded copy in tmp.
  const T* bb = b;
  std::int64_t np = ldb;
  if (trans_b || n % col_block != 0) {
    bb = tmp;
    np = round_up(n, col_block);
    for (std::int64_t p = 0; p < k; ++p) {
      T* row = tmp + p * np;
      for (std::int64_t j = 0; j < n; ++j) row[j] = trans_b ? b[j * ldb + p] : b[p * ldb + j];
      for (std::int64_t j = n; j < np; ++j) row[j] = T(0);
    }
  }
  // A(i, p) = a[i * step_i + p * step_p]; rows past m repeat row m - 1 (their sums are not stored).
  const std::int64_t step_i = trans_a ? 1 : lda, step_p = trans_a ? lda : 1;
  for (std::int64_t i0 = 0; i0 < m; i0 += kRowBlock) {
    const std::int64_t rows = std::min(kRowBlock, m - i0);
    const T* a0 = a + i0 * step_i;
    const T* a1 = a + (i0 + std::min<std::int64_t>(1, rows - 1)) * step_i;
    const T* a2 = a + (i0 + std::min<std::int64_t>(2, rows - 1)) * step_i;
    const T* a3 = a + (i0 + std::min<std::int64_t>(3, rows - 1)) * step_i;
    for (std::int64_t j0 = 0; j0 < n; j0 += col_block) {
      Vec c00{}, c01{}, c10{}, c11{}, c20{}, c21{}, c30{}, c31{};
      const T* bp = bb + j0;
      for (std::int64_t p = 0; p < k; ++p, bp += np) {
        Vec b0, b1;
        std::memcpy(&b0, bp, sizeof b0);
        std::memcpy(&b1, bp + lanes, sizeof b1);
        const std::int64_t ap = p * step_p;
        c00 += a0[ap] * b0;
        c01 += a0[ap] * b1;
        c10 += a1[ap] * b0;
        c11 += a1[ap] * b1;
        c20 += a2[ap] * b0;
        c21 += a2[ap] * b1;
        c30 += a3[ap] * b0;
        c31 += a3[ap] * b1;
      }
      const Vec acc[kRowBlock][2] = {{alpha * c00, alpha * c01}, {alpha * c10, alpha * c11},
                                     {alpha * c20, alpha * c21}, {alpha * c30, alpha * c31}};
      const std::int64_t cols = std::min(col_block, n - j0);
      for (std::int64_t r = 0; r < rows; ++r) {
        T* cr = c + (i0 + r) * ldc + j0;
        if (cols == col_block) {  // straight from the registers
          std::memcpy(cr, &acc[r][0], sizeof acc[r][0]);
          std::memcpy(cr + lanes, &acc[r][1], sizeof acc[r][1]);
        } else {
          T sum[col_block];
          std::memcpy(sum, acc[r], sizeof sum);
          for (std::int64_t j = 0; j < cols; ++j) cr[j] = sum[j];
        }
      }
    }
  }
}

// S = scale Q K^T, P = masked softmax(S) into probs; out = P~ V. scratch: head_gemm's tmp, then
// (with dropout) P~ = dropped P [L, L].
template <class T>
void forward_task(const Geometry& g, const AttentionArgs& a, const std::int32_t* lengths, const T* qkv, T* out,
                  T* probs, T* scratch, std::int64_t task) {
  const HeadViews<T> hv(g, qkv, task);
  const Visibility vis{lengths ? lengths[hv.n] : g.len, a.causal};
  const std::int64_t L = g.len, ld = hv.ld_qkv;
  const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(g.dh)));
  const bool dropout = a.dropout_p > 0.0;
  const DropMask<T> drop(a, g);
  T* tmp = scratch;
  scratch += head_gemm_tmp(L, g.dh);
  T* p = probs + hv.probs_offset;
  const std::int64_t block = a.causal ? kCausalBlock : L;
  for (std::int64_t i0 = 0; i0 < L; i0 += block) {
    const std::int64_t i1 = std::min(L, i0 + block), rows = i1 - i0, cols = vis.block_cols(i1);
    head_gemm<T>(false, true, rows, cols, g.dh, scale, hv.q + i0 * ld, ld, hv.k, ld, p + i0 * L, L, tmp);
    for (std::int64_t i = i0; i < i1; ++i) {
      masked_softmax_row(p + i * L, vis.row_cols(i), L);
      if (dropout)
        drop.apply(p + i * L, scratch + i * L, cols, static_cast<std::uint64_t>(hv.probs_offset + i * L));
    }
    const T* pv = dropout ? scratch : p;
    head_gemm<T>(false, false, rows, g.dh, cols, T(1), pv + i0 * L, L, hv.v, ld, out + hv.out_offset + i0 * g.d, g.d,
                 tmp);
  }
}

// scratch: head_gemm's tmp, dS [L, L], then (with dropout) P~ [L, L].
template <class T>
void backward_task(const Geometry& g, const AttentionArgs& a, const std::int32_t* lengths, const T* qkv,
                   const T* probs, const T* dout, T* dqkv, T* scratch, std::int64_t task) {
  const HeadViews<T> hv(g, qkv, task);
  const Visibility vis{lengths ? lengths[hv.n] : g.len, a.causal};
  const std::int64_t L = g.len, ld = hv.ld_qkv;
  const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(g.dh)));
  const bool dropout = a.dropout_p > 0.0;
  const DropMask<T> drop(a, g);
  const T* p = probs + hv.probs_offset;
  const T* d_o = dout + hv.out_offset;
  T* tmp = scratch;
  T* ds = scratch + head_gemm_tmp(L, g.dh);
  T* pd = ds + L * L;
  T* dq = dqkv + hv.qkv_offset;
  T* dk = dq + g.d;
  T* dv = dq + 2 * g.d;
  const std::int64_t block = a.causal ? kCausalBlock : L;
  // Query blocks: dP~ = dO V^T, dS = P * (dP - rowsum(dP * P)), dQ = scale dS K.
  for (std::int64_t i0 = 0; i0 < L; i0 += block) {
    const std::int64_t i1 = std::min(L, i0 + block), rows = i1 - i0, cols = vis.block_cols(i1);
    head_gemm<T>(false, true, rows, cols, g.dh, T(1), d_o + i0 * g.d, g.d, hv.v, ld, ds + i0 * L, L, tmp);
    for (std::int64_t i = i0; i < i1; ++i) {
      const std::int64_t visible = vis.row_cols(i);
      const T* pr = p + i * L;
      T* dr = ds + i * L;
      if (dropout) {  // P~ (for dV), then dP = dP~ keep / (1 - p) with the mask read off P~
        T* pdr = pd + i * L;
        drop.apply(pr, pdr, cols, static_cast<std::uint64_t>(hv.probs_offset + i * L));
        // Where P~ = 0 but the element was kept, P = 0 and dS = P (dP - rowsum) = 0 whatever dP is,
        // so testing P~ != 0 instead of regenerating the mask changes no result.
        for (std::int64_t j = 0; j < visible; ++j) dr[j] = pdr[j] != T(0) ? dr[j] / drop.keep_prob : T(0);
      }
      double dot = 0.0;
#pragma omp simd reduction(+ : dot)
      for (std::int64_t j = 0; j < visible; ++j) dot += static_cast<double>(dr[j]) * static_cast<double>(pr[j]);
      const T dot_t = static_cast<T>(dot);
      for (std::int64_t j = 0; j < visible; ++j) dr[j] = pr[j] * (dr[j] - dot_t);
      for (std::int64_t j = visible; j < cols; ++j) dr[j] = T(0);
    }
    head_gemm<T>(false, false, rows, g.dh, cols, scale, ds + i0 * L, L, hv.k, ld, dq + i0 * ld, ld, tmp);
  }
  // Key blocks (the same partition): dK = scale dS^T Q, dV = P~^T dO over the query rows that can see
  // them (causal: rows >= j0, whose blocks computed these columns of dS and P~).
  const T* pt = dropout ? pd : p;
  for (std::int64_t j0 = 0; j0 < vis.kv; j0 += block) {
    const std::int64_t j1 = std::min(vis.kv, j0 + block), r0 = a.causal ? j0 : 0;
    head_gemm<T>(true, false, j1 - j0, g.dh, L - r0, scale, ds + r0 * L + j0, L, hv.q + r0 * ld, ld, dk + j0 * ld, ld,
                 tmp);
    head_gemm<T>(true, false, j1 - j0, g.dh, L - r0, T(1), pt + r0 * L + j0, L, d_o + r0 * g.d, g.d, dv + j0 * ld, ld,
                 tmp);
  }
  for (std::int64_t j = vis.kv; j < L; ++j)
    for (std::int64_t c = 0; c < g.dh; ++c) dk[j * ld + c] = dv[j * ld + c] = T(0);
}

}  // namespace

// The probabilities are saved in f32 for 16-bit qkv (attention_saved_dtype), so only qkv and the
// outputs are widened.
void CpuBackend::attention_forward_impl(const Tensor& qkv, const Tensor& out, const Tensor& saved,
                                        const AttentionArgs& args) {
  if (widened([&](const Tensor& qkv32, const Tensor& out32) { CpuBackend::attention_forward_impl(qkv32, out32, saved, args); },
              cpu::in(qkv), cpu::out(out)))
    return;
  constexpr const char* k = "attention_forward";
  const Geometry g = geometry(qkv, args.heads);
  const std::int32_t* lengths = cpu::checked_lengths(k, args.lengths, g.batch, g.len);
  check_attention_row_ids(k, args, g);
  cpu::dispatch_float(k, qkv.dtype, [&](auto zero) {
    using T = decltype(zero);
    const std::int64_t per_thread = head_gemm_tmp(g.len, g.dh) + (args.dropout_p > 0.0 ? g.len * g.len : 0);
    const std::unique_ptr<T[]> scratch(new T[static_cast<std::size_t>(std::max(threads_, 1) * per_thread)]);
    const T* qp = qkv.ptr<T>();
    T* op = out.ptr<T>();
    T* pp = saved.ptr<T>();
    cpu::parallel_blas_tasks(threads_, g.tasks(), scratch.get(), per_thread, [&](std::int64_t t, T* s) {
      forward_task<T>(g, args, lengths, qp, op, pp, s, t);
    });
  });
}

// out is not needed: P is saved.
void CpuBackend::attention_backward_impl(const Tensor& qkv, const Tensor& out, const Tensor& saved,
                                         const Tensor& dout, const Tensor& dqkv, const AttentionArgs& args) {
  if (widened([&](const Tensor& qkv32, const Tensor& dout32, const Tensor& dqkv32) {
                CpuBackend::attention_backward_impl(qkv32, out, saved, dout32, dqkv32, args);
              },
              cpu::in(qkv), cpu::in(dout), cpu::out(dqkv)))
    return;
  constexpr const char* k = "attention_backward";
  const Geometry g = geometry(qkv, args.heads);
  const std::int32_t* lengths = cpu::checked_lengths(k, args.lengths, g.batch, g.len);
  check_attention_row_ids(k, args, g);
  cpu::dispatch_float(k, qkv.dtype, [&](auto zero) {
    using T = decltype(zero);
    const std::int64_t per_thread = head_gemm_tmp(g.len, g.dh) + (args.dropout_p > 0.0 ? 2 : 1) * g.len * g.len;
    const std::unique_ptr<T[]> scratch(new T[static_cast<std::size_t>(std::max(threads_, 1) * per_thread)]);
    const T* qp = qkv.ptr<T>();
    const T* pp = saved.ptr<T>();
    const T* gp = dout.ptr<T>();
    T* dp = dqkv.ptr<T>();
    cpu::parallel_blas_tasks(threads_, g.tasks(), scratch.get(), per_thread, [&](std::int64_t t, T* s) {
      backward_task<T>(g, args, lengths, qp, pp, gp, dp, s, t);
    });
  });
}

}  // namespace hpct::kernels
