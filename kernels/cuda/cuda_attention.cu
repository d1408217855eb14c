// CudaBackend: multi-head scaled-dot-product attention. Where sdpa_runs (cuda_sdpa.cpp) says so, cuDNN's
// fused attention runs the call (16-bit, no attention dropout; saved: its softmax statistics); otherwise
// our own kernels below (the reference and the fallback). Their saved state is the CPU's: the
// probabilities P [N, H, L, L] in stats_dtype (f32; f64 for f64), so both backends read the same
// layout. One thread block per query row (n, h, i):
//   forward:   S_ij = scale q_i . k_j over the visible keys (j < len_n, and j <= i when causal), written
//              into P's row; the stable softmax over that row (sum in double); out_i = sum_j P~_ij v_j.
//   backward:  per query row, dP~_ij = do_i . v_j, dP = dP~ keep / (1 - p), dS = P (dP - rowsum(dP P))
//              into a scratch [N, H, L, L], dq_i = scale sum_j dS_ij k_j; then per key row j,
//              dk_j = scale sum_i dS_ij q_i and dv_j = sum_i P~_ij do_i.
// Every sum has one owner thread and a fixed order (no atomics): the same bits on every run.
// Dropout: keep_ij = philox bits of element ((n H + h) L + i) L + j >= threshold, as the CPU's.
#include <cmath>
#include <cstdint>

#include "core/philox.hpp"
#include "kernels/common/math.hpp"
#include "kernels/cuda/cuda_backend.hpp"
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_sdpa.hpp"

namespace hpct::kernels::cuda {
namespace {

constexpr int kAttnThreads = 128;

struct AttnGeom {
  std::int64_t batch, len, d, heads, dh;
  const std::int32_t* lengths;  // null: all keys valid
  bool causal;
  std::uint32_t threshold;  // dropout: keep when the bits pass (0 with p = 0: always)
  bool dropout;
  std::uint64_t seed, stream;
  const std::int64_t* row_ids;  // null: dropout keyed by batch position
  std::int64_t rows() const { return batch * heads * len; }  // query rows of all heads: the blocks
};

// One block's query row: its sequence n, head h, position i, and the row's offsets.
struct AttnRow {
  std::int64_t n, h, i, task;
  // The dropout counter of element e of P, which lies in this block's sequence n, is e + shift:
  // math::keyed_index(row_ids, e, H L L) = row_ids[n] H L L + (e - n H L L), without a division per element.
  std::uint64_t shift;
  __device__ AttnRow(const AttnGeom& g, std::int64_t block)
      : n(block / g.len / g.heads), h(block / g.len % g.heads), i(block % g.len), task(block / g.len),
        shift(g.row_ids ? static_cast<std::uint64_t>(g.row_ids[n] - n) *
                              static_cast<std::uint64_t>(g.heads * g.len * g.len)
                        : 0) {}
  // Position r of this head: Q at qkv + qkv_row(r), K at + D, V at + 2D; out / dout at out_row(r).
  __device__ std::int64_t qkv_row(const AttnGeom& g, std::int64_t r) const {
    return (n * g.len + r) * 3 * g.d + h * g.dh;
  }
  __device__ std::int64_t out_row(const AttnGeom& g, std::int64_t r) const { return (n * g.len + r) * g.d + h * g.dh; }
  // Element (i, j) of P [N, H, L, L].
  __device__ std::int64_t p_index(const AttnGeom& g, std::int64_t r, std::int64_t j) const {
    return (task * g.len + r) * g.len + j;
  }
};

__device__ __forceinline__ bool attn_keep(const AttnGeom& g, const AttnRow& row, std::int64_t e) {
  if (!g.dropout) return true;
  const std::uint64_t u = static_cast<std::uint64_t>(e) + row.shift;
  return math::dropout_keep(philox4x32(g.seed, u / 4, g.stream).v[u % 4], g.threshold);
}

// Keys row r sees: [0, visible).
__device__ __forceinline__ std::int64_t visible_keys(const AttnGeom& g, std::int64_t kv, std::int64_t r) {
  return g.causal ? (r + 1 < kv ? r + 1 : kv) : kv;
}

template <class T>
__global__ void __launch_bounds__(kAttnThreads)
    attention_forward_kernel(AttnGeom g, const T* qkv, T* out, acc_t<T>* probs, acc_t<T> scale, acc_t<T> keep_prob) {
  using Acc = acc_t<T>;
  extern __shared__ unsigned char smem_raw[];
  Acc* q = reinterpret_cast<Acc*>(smem_raw);  // q_i, widened
  const AttnRow row(g, blockIdx.x);
  const std::int64_t kv = valid_length(g.lengths, row.n, g.len), vis = visible_keys(g, kv, row.i);
  const T* qi = qkv + row.qkv_row(g, row.i);
  for (std::int64_t c = threadIdx.x; c < g.dh; c += blockDim.x) q[c] = load(qi[c]);
  __syncthreads();
  Acc* p = probs + row.p_index(g, row.i, 0);
  Acc mx = -INFINITY;
  for (std::int64_t j = threadIdx.x; j < vis; j += blockDim.x) {
    const T* kj = qkv + row.qkv_row(g, j) + g.d;
    Acc s = 0;
    for (std::int64_t c = 0; c < g.dh; ++c) s += q[c] * static_cast<Acc>(load(kj[c]));
    s *= scale;
    p[j] = static_cast<Acc>(s);
    mx = math::hd_max(mx, s);
  }
  mx = block_max(mx);
  double sum = 0.0;
  for (std::int64_t j = threadIdx.x; j < vis; j += blockDim.x) {
    const Acc e = math::hd_exp(p[j] - mx);
    p[j] = static_cast<Acc>(e);
    sum += static_cast<double>(e);
  }
  const auto inv = static_cast<Acc>(1.0 / block_sum(sum));
  for (std::int64_t j = threadIdx.x; j < g.len; j += blockDim.x) p[j] = j < vis ? static_cast<Acc>(p[j] * inv) : Acc(0);
  __syncthreads();  // the row of P, written by all threads, is read by all below
  const std::int64_t e0 = row.p_index(g, row.i, 0);
  T* o = out + row.out_row(g, row.i);
  for (std::int64_t c = threadIdx.x; c < g.dh; c += blockDim.x) {
    Acc s = 0;
    for (std::int64_t j = 0; j < vis; ++j) {
      if (!attn_keep(g, row, e0 + j)) continue;
      s += p[j] / keep_prob * static_cast<Acc>(load(qkv[row.qkv_row(g, j) + 2 * g.d + c]));
    }
    o[c] = store<T>(s);
  }
}

// Per query row: dP (dropout applied), then dS = P (dP - rowsum(dP P)) into ds's row (zero past the
// visible keys, which the key-row kernel reads), and dq_i = scale sum_j dS_ij k_j.
template <class T>
__global__ void __launch_bounds__(kAttnThreads)
    attention_dq_kernel(AttnGeom g, const T* qkv, const acc_t<T>* probs, const T* dout, T* dqkv, acc_t<T>* ds,
                        acc_t<T> scale, acc_t<T> keep_prob) {
  using Acc = acc_t<T>;
  extern __shared__ unsigned char smem_raw[];
  Acc* dov = reinterpret_cast<Acc*>(smem_raw);  // do_i, widened
  const AttnRow row(g, blockIdx.x);
  const std::int64_t kv = valid_length(g.lengths, row.n, g.len), vis = visible_keys(g, kv, row.i);
  const T* doi = dout + row.out_row(g, row.i);
  for (std::int64_t c = threadIdx.x; c < g.dh; c += blockDim.x) dov[c] = load(doi[c]);
  __syncthreads();
  const std::int64_t e0 = row.p_index(g, row.i, 0);
  const Acc* p = probs + e0;
  Acc* dsr = ds + e0;
  double dot = 0.0;
  for (std::int64_t j = threadIdx.x; j < vis; j += blockDim.x) {
    Acc dp = 0;
    if (attn_keep(g, row, e0 + j)) {
      const T* vj = qkv + row.qkv_row(g, j) + 2 * g.d;
      for (std::int64_t c = 0; c < g.dh; ++c) dp += dov[c] * static_cast<Acc>(load(vj[c]));
      if (g.dropout) dp /= keep_prob;
    }
    dsr[j] = dp;
    dot += static_cast<double>(dp) * static_cast<double>(p[j]);
  }
  const auto dot_a = static_cast<Acc>(block_sum(dot));
  // Each thread rewrites the elements it wrote above (the same stride), so no barrier is needed here.
  for (std::int64_t j = threadIdx.x; j < g.len; j += blockDim.x) dsr[j] = j < vis ? p[j] * (dsr[j] - dot_a) : Acc(0);
  __syncthreads();
  T* dq = dqkv + row.qkv_row(g, row.i);
  for (std::int64_t c = threadIdx.x; c < g.dh; c += blockDim.x) {
    Acc s = 0;
    for (std::int64_t j = 0; j < vis; ++j) s += dsr[j] * static_cast<Acc>(load(qkv[row.qkv_row(g, j) + g.d + c]));
    dq[c] = store<T>(scale * s);
  }
}

// Per key row j (the block's "i"): dk_j = scale sum_r dS_rj q_r, dv_j = sum_r P~_rj do_r over the query
// rows r that may see it (causal: r >= j); masked keys get zeros.
template <class T>
__global__ void __launch_bounds__(kAttnThreads)
    attention_dkv_kernel(AttnGeom g, const T* qkv, const acc_t<T>* probs, const T* dout, T* dqkv, const acc_t<T>* ds,
                         acc_t<T> scale, acc_t<T> keep_prob) {
  using Acc = acc_t<T>;
  const AttnRow row(g, blockIdx.x);
  const std::int64_t j = row.i, kv = valid_length(g.lengths, row.n, g.len);
  T* dk = dqkv + row.qkv_row(g, j) + g.d;
  T* dv = dk + g.d;
  if (j >= kv) {
    for (std::int64_t c = threadIdx.x; c < g.dh; c += blockDim.x) dk[c] = dv[c] = store<T>(Acc(0));
    return;
  }
  for (std::int64_t c = threadIdx.x; c < g.dh; c += blockDim.x) {
    Acc sk = 0, sv = 0;
    for (std::int64_t r = g.causal ? j : 0; r < g.len; ++r) {
      const std::int64_t e = row.p_index(g, r, j);
      sk += ds[e] * static_cast<Acc>(load(qkv[row.qkv_row(g, r) + c]));
      if (attn_keep(g, row, e)) {
        const Acc pt = g.dropout ? probs[e] / keep_prob : probs[e];
        sv += pt * static_cast<Acc>(load(dout[row.out_row(g, r) + c]));
      }
    }
    dk[c] = store<T>(scale * sk);
    dv[c] = store<T>(sv);
  }
}

AttnGeom attn_geom(const Tensor& qkv, const AttentionArgs& a) {
  const std::int64_t d = qkv.dim(2) / 3;
  return {qkv.dim(0),
          qkv.dim(1),
          d,
          a.heads,
          d / a.heads,
          lengths_ptr(a.lengths),
          a.causal,
          math::dropout_threshold(a.dropout_p),
          a.dropout_p > 0.0,
          a.seed,
          a.stream,
          a.dropout_p > 0.0 ? row_ids_ptr(a.row_ids) : nullptr};
}

// The launch checks both passes share; false when there is nothing to compute.
bool attn_prepare(const char* k, const AttnGeom& g, const Tensor& lengths, const Tensor& row_ids, cudaStream_t s,
                  DeviceError* err) {
  if (g.rows() == 0 || g.dh == 0) return false;
  HPCT_CHECK(g.rows() <= INT32_MAX, k, ": N H L = ", g.rows(), " query rows exceed the grid's 2^31 - 1 blocks");
  check_lengths(lengths, g.len, s, err);
  if (g.row_ids) check_row_ids(row_ids, math::max_row_key(g.heads * g.len * g.len), s, err);
  return true;
}

SdpaProblem sdpa_problem(const Tensor& qkv, const AttnGeom& g) {
  return {qkv.dtype, g.batch, g.len, g.heads, g.dh, g.lengths != nullptr, g.causal};
}

}  // namespace

void CudaBackend::attention_forward_impl(const Tensor& qkv, const Tensor& out, const Tensor& saved,
                                         const AttentionArgs& args) {
  constexpr const char* k = "attention_forward";
  const AttnGeom g = attn_geom(qkv, args);
  if (!attn_prepare(k, g, args.lengths, args.row_ids, cur(), device_error())) return;
  if (sdpa_runs(qkv.shape, qkv.dtype, args)) {
    cudnn_sdpa().forward(sdpa_problem(qkv, g), qkv.data, out.data, saved.ptr<float>(), g.lengths, cur());
    return;
  }
  const auto blocks = static_cast<unsigned>(g.rows());
  dispatch_float(k, qkv.dtype, [&](auto z) {
    using T = decltype(z);
    using Acc = acc_t<T>;
    const auto scale = static_cast<Acc>(1.0 / std::sqrt(static_cast<double>(g.dh)));
    attention_forward_kernel<T><<<blocks, kAttnThreads, g.dh * sizeof(Acc), cur()>>>(
        g, qkv.ptr<T>(), out.ptr<T>(), saved.ptr<Acc>(), scale, static_cast<Acc>(1.0 - args.dropout_p));
  });
  HPCT_CUDA_LAUNCH_CHECK();
}

void CudaBackend::attention_backward_impl(const Tensor& qkv, const Tensor& out, const Tensor& saved,
                                          const Tensor& dout, const Tensor& dqkv, const AttentionArgs& args) {
  constexpr const char* k = "attention_backward";
  const AttnGeom g = attn_geom(qkv, args);
  if (!attn_prepare(k, g, args.lengths, args.row_ids, cur(), device_error())) return;
  if (sdpa_runs(qkv.shape, qkv.dtype, args)) {
    cudnn_sdpa().backward(sdpa_problem(qkv, g), qkv.data, out.data, saved.ptr<float>(), dout.data, dqkv.data,
                          g.lengths, cur());
    return;
  }
  const auto blocks = static_cast<unsigned>(g.rows());
  dispatch_float(k, qkv.dtype, [&](auto z) {
    using T = decltype(z);
    using Acc = acc_t<T>;
    const auto scale = static_cast<Acc>(1.0 / std::sqrt(static_cast<double>(g.dh)));
    const auto keep_prob = static_cast<Acc>(1.0 - args.dropout_p);
    const Scratch ds(static_cast<std::size_t>(g.rows() * g.len) * sizeof(Acc), cur());
    attention_dq_kernel<T><<<blocks, kAttnThreads, g.dh * sizeof(Acc), cur()>>>(
        g, qkv.ptr<T>(), saved.ptr<Acc>(), dout.ptr<T>(), dqkv.ptr<T>(), ds.as<Acc>(), scale, keep_prob);
    HPCT_CUDA_LAUNCH_CHECK();
    attention_dkv_kernel<T><<<blocks, kAttnThreads, 0, cur()>>>(g, qkv.ptr<T>(), saved.ptr<Acc>(), dout.ptr<T>(),
                                                                dqkv.ptr<T>(), ds.as<Acc>(), scale, keep_prob);
  });
  HPCT_CUDA_LAUNCH_CHECK();
}

}  // namespace hpct::kernels::cuda
