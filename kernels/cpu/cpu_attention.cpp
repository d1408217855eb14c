// CpuBackend: fused multi-head scaled-dot-product attention. One task per (sequence, head), tasks in
// parallel; inside a task, single-threaded BLAS directly on the strided head views of the fused qkv
// layout (leading dimension 3D, no gather copies), with the mask, the stable softmax and the dropout
// fused into one pass over each row of scores. Tasks write disjoint parts of the outputs, so the bits do
// not depend on the thread count.
//
// Causal attention runs in blocks of kCausalBlock query rows: block [i0, i1) needs keys < i1 only, so
// the products skip most of the zero triangle above the diagonal. Key padding shrinks every product to
// the valid keys.
#include <climits>
#include <cmath>
#include <cstdint>
#include <memory>

#include "core/philox.hpp"
#include "kernels/common/math.hpp"
#include "kernels/cpu/cpu_backend.hpp"
#include "kernels/cpu/cpu_blas.hpp"
#include "kernels/cpu/cpu_common.hpp"
#include "kernels/cpu/cpu_vmath.hpp"

namespace hpct::kernels {
namespace {

constexpr std::int64_t kCausalBlock = 64;

struct Geometry {
  std::int64_t batch, len, d, heads, dh;
  std::int64_t tasks() const { return batch * heads; }
};

// Shapes and arguments shared by forward and backward: qkv [N, L, 3D], probs [N, H, L, L], lengths in
// [1, L], p in [0, 1). Every extent handed to BLAS must fit an int.
Geometry check_attention(const char* k, const Tensor& qkv, const Tensor& probs, const AttentionArgs& args) {
  cpu::check_float(k, "qkv", qkv);
  HPCT_CHECK(qkv.rank() == 3 && qkv.dim(2) % 3 == 0, k, ": qkv must be [N, L, 3 D], got ", qkv.shape.str());
  Geometry g{qkv.dim(0), qkv.dim(1), qkv.dim(2) / 3, args.heads, 0};
  HPCT_CHECK(g.heads >= 1 && g.d % g.heads == 0, k, ": d_model ", g.d, " is not divisible by heads ", g.heads);
  g.dh = g.d / g.heads;
  HPCT_CHECK(g.len >= 1 && g.dh >= 1, k, ": qkv ", qkv.shape.str(), " has no positions or no features");
  HPCT_CHECK(3 * g.d <= INT_MAX && g.len * g.len <= INT_MAX, k, ": qkv ", qkv.shape.str(),
             " exceeds the BLAS integer range");
  cpu::check_float(k, "probs", probs);
  cpu::check_same_dtype(k, "qkv", qkv, "probs", probs);
  HPCT_CHECK(probs.shape == Shape({g.batch, g.heads, g.len, g.len}), k, ": probs is ", probs.shape.str(),
             ", expected [", g.batch, ", ", g.heads, ", ", g.len, ", ", g.len, "] for qkv ", qkv.shape.str(),
             " and ", g.heads, " heads");
  if (args.lengths)
    for (std::int64_t n = 0; n < g.batch; ++n)
      HPCT_CHECK(args.lengths[n] >= 1 && args.lengths[n] <= g.len, k, ": lengths[", n, "] = ", args.lengths[n],
                 " is outside [1, ", g.len, "]");
  HPCT_CHECK(args.dropout_p >= 0.0 && args.dropout_p < 1.0, k, ": dropout probability p = ", args.dropout_p,
             " is outside [0, 1)");
  return g;
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
// stream, e) >= p: dropout_forward's rule (division included) at flat index e. dst may alias src.
template <class T>
struct DropMask {
  std::uint32_t threshold;
  T keep_prob;
  std::uint64_t seed, stream;
  explicit DropMask(const AttentionArgs& a)
      : threshold(math::dropout_threshold(a.dropout_p)), keep_prob(static_cast<T>(1.0 - a.dropout_p)),
        seed(a.seed), stream(a.stream) {}
  void apply(const T* src, T* dst, std::int64_t count, std::uint64_t e0) const {
    std::int64_t j = 0;
    while (j < count) {
      const std::uint64_t e = e0 + static_cast<std::uint64_t>(j);
      const U32x4 r = philox4x32(seed, e / 4, stream);  // lanes of elements 4 (e / 4) .. 4 (e / 4) + 3
      const std::int64_t end = std::min<std::int64_t>(count, j + static_cast<std::int64_t>(4 - e % 4));
      for (std::uint64_t lane = e % 4; j < end; ++j, ++lane)
        dst[j] = math::dropout_keep(r.v[lane], threshold) ? src[j] / keep_prob : T(0);
    }
  }
};

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

// S = scale Q K^T, P = masked softmax(S) into probs; out = P~ V (P~ = dropped P in scratch [L, L]).
template <class T>
void forward_task(const Geometry& g, const AttentionArgs& a, const T* qkv, T* out, T* probs, T* scratch,
                  std::int64_t task) {
  const HeadViews<T> hv(g, qkv, task);
  const Visibility vis{a.lengths ? a.lengths[hv.n] : g.len, a.causal};
  const std::int64_t L = g.len, ld = hv.ld_qkv;
  const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(g.dh)));
  const bool dropout = a.dropout_p > 0.0;
  const DropMask<T> drop(a);
  T* p = probs + hv.probs_offset;
  const std::int64_t block = a.causal ? kCausalBlock : L;
  for (std::int64_t i0 = 0; i0 < L; i0 += block) {
    const std::int64_t i1 = std::min(L, i0 + block), rows = i1 - i0, cols = vis.block_cols(i1);
    cpu::blas_gemm<T>(false, true, as_int(rows), as_int(cols), as_int(g.dh), scale, hv.q + i0 * ld, as_int(ld),
                      hv.k, as_int(ld), T(0), p + i0 * L, as_int(L));
    for (std::int64_t i = i0; i < i1; ++i) {
      masked_softmax_row(p + i * L, vis.row_cols(i), L);
      if (dropout)
        drop.apply(p + i * L, scratch + i * L, cols, static_cast<std::uint64_t>(hv.probs_offset + i * L));
    }
    const T* pv = dropout ? scratch : p;
    cpu::blas_gemm<T>(false, false, as_int(rows), as_int(g.dh), as_int(cols), T(1), pv + i0 * L, as_int(L), hv.v,
                      as_int(ld), T(0), out + hv.out_offset + i0 * g.d, as_int(g.d));
  }
}

// scratch: dS [L, L], then (with dropout) P~ [L, L].
template <class T>
void backward_task(const Geometry& g, const AttentionArgs& a, const T* qkv, const T* probs, const T* dout,
                   T* dqkv, T* scratch, std::int64_t task) {
  const HeadViews<T> hv(g, qkv, task);
  const Visibility vis{a.lengths ? a.lengths[hv.n] : g.len, a.causal};
  const std::int64_t L = g.len, ld = hv.ld_qkv;
  const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(g.dh)));
  const bool dropout = a.dropout_p > 0.0;
  const DropMask<T> drop(a);
  const T* p = probs + hv.probs_offset;
  const T* d_o = dout + hv.out_offset;
  T* ds = scratch;
  T* pd = scratch + L * L;
  T* dq = dqkv + hv.qkv_offset;
  T* dk = dq + g.d;
  T* dv = dq + 2 * g.d;
  const std::int64_t block = a.causal ? kCausalBlock : L;
  // Query blocks: dP~ = dO V^T, dS = P * (dP - rowsum(dP * P)), dQ = scale dS K.
  for (std::int64_t i0 = 0; i0 < L; i0 += block) {
    const std::int64_t i1 = std::min(L, i0 + block), rows = i1 - i0, cols = vis.block_cols(i1);
    cpu::blas_gemm<T>(false, true, as_int(rows), as_int(cols), as_int(g.dh), T(1), d_o + i0 * g.d, as_int(g.d),
                      hv.v, as_int(ld), T(0), ds + i0 * L, as_int(L));
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
    cpu::blas_gemm<T>(false, false, as_int(rows), as_int(g.dh), as_int(cols), scale, ds + i0 * L, as_int(L), hv.k,
                      as_int(ld), T(0), dq + i0 * ld, as_int(ld));
  }
  // Key blocks (the same partition): dK = scale dS^T Q, dV = P~^T dO over the query rows that can see
  // them (causal: rows >= j0, whose blocks computed these columns of dS and P~).
  const T* pt = dropout ? pd : p;
  for (std::int64_t j0 = 0; j0 < vis.kv; j0 += block) {
    const std::int64_t j1 = std::min(vis.kv, j0 + block), r0 = a.causal ? j0 : 0;
    cpu::blas_gemm<T>(true, false, as_int(j1 - j0), as_int(g.dh), as_int(L - r0), scale, ds + r0 * L + j0,
                      as_int(L), hv.q + r0 * ld, as_int(ld), T(0), dk + j0 * ld, as_int(ld));
    cpu::blas_gemm<T>(true, false, as_int(j1 - j0), as_int(g.dh), as_int(L - r0), T(1), pt + r0 * L + j0,
                      as_int(L), d_o + r0 * g.d, as_int(g.d), T(0), dv + j0 * ld, as_int(ld));
  }
  for (std::int64_t j = vis.kv; j < L; ++j)
    for (std::int64_t c = 0; c < g.dh; ++c) dk[j * ld + c] = dv[j * ld + c] = T(0);
}

}  // namespace

void CpuBackend::attention_forward(const Tensor& qkv, const Tensor& out, const Tensor& probs,
                                   const AttentionArgs& args) {
  constexpr const char* k = "attention_forward";
  const Geometry g = check_attention(k, qkv, probs, args);
  cpu::check_float(k, "out", out);
  cpu::check_same_dtype(k, "qkv", qkv, "out", out);
  HPCT_CHECK(out.shape == Shape({g.batch, g.len, g.d}), k, ": out is ", out.shape.str(), ", expected [", g.batch,
             ", ", g.len, ", ", g.d, "] for qkv ", qkv.shape.str());
  cpu::dispatch_float(k, qkv.dtype, [&](auto zero) {
    using T = decltype(zero);
    const std::int64_t per_thread = args.dropout_p > 0.0 ? g.len * g.len : 0;
    const std::unique_ptr<T[]> scratch(new T[static_cast<std::size_t>(std::max(threads_, 1) * per_thread)]);
    const T* qp = qkv.as<T>();
    T* op = out.as<T>();
    T* pp = probs.as<T>();
    cpu::parallel_blas_tasks(threads_, g.tasks(), scratch.get(), per_thread, [&](std::int64_t t, T* s) {
      forward_task<T>(g, args, qp, op, pp, s, t);
    });
  });
}

void CpuBackend::attention_backward(const Tensor& qkv, const Tensor& probs, const Tensor& dout, const Tensor& dqkv,
                                    const AttentionArgs& args) {
  constexpr const char* k = "attention_backward";
  const Geometry g = check_attention(k, qkv, probs, args);
  cpu::check_float(k, "dout", dout);
  cpu::check_same_dtype(k, "qkv", qkv, "dout", dout);
  HPCT_CHECK(dout.shape == Shape({g.batch, g.len, g.d}), k, ": dout is ", dout.shape.str(), ", expected [",
             g.batch, ", ", g.len, ", ", g.d, "] for qkv ", qkv.shape.str());
  cpu::check_like(k, "qkv", qkv, "dqkv", dqkv);
  cpu::dispatch_float(k, qkv.dtype, [&](auto zero) {
    using T = decltype(zero);
    const std::int64_t per_thread = (args.dropout_p > 0.0 ? 2 : 1) * g.len * g.len;
    const std::unique_ptr<T[]> scratch(new T[static_cast<std::size_t>(std::max(threads_, 1) * per_thread)]);
    const T* qp = qkv.as<T>();
    const T* pp = probs.as<T>();
    const T* gp = dout.as<T>();
    T* dp = dqkv.as<T>();
    cpu::parallel_blas_tasks(threads_, g.tasks(), scratch.get(), per_thread, [&](std::int64_t t, T* s) {
      backward_task<T>(g, args, qp, pp, gp, dp, s, t);
    });
  });
}

}  // namespace hpct::kernels
