#pragma once
// What the .cu files share: 16-bit storage load/store (core/half.hpp's conversions, so a GPU stores the
// bits the CPU reference does), dtype dispatch, launch geometry, block reductions and stream-ordered
// scratch memory.
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "core/error.hpp"
#include "core/half.hpp"
#include "core/tensor.hpp"
#include "kernels/common/math.hpp"
#include "kernels/cuda/cuda_check.hpp"
#include "kernels/cuda/device_error.hpp"

namespace hpct::kernels::cuda {

// The arithmetic type of a storage type: double for double, float otherwise.
template <class T>
using acc_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

__host__ __device__ __forceinline__ float load(float x) { return x; }
__host__ __device__ __forceinline__ double load(double x) { return x; }
__host__ __device__ __forceinline__ float load(bf16 x) { return to_float(x); }
__host__ __device__ __forceinline__ float load(f16 x) { return to_float(x); }

// Rounds to T (nearest-even for 16-bit, as the CPU backend).
template <class T, class A>
__host__ __device__ __forceinline__ T store(A v) {
  if constexpr (std::is_same_v<T, bf16>) return to_bf16(static_cast<float>(v));
  else if constexpr (std::is_same_v<T, f16>) return to_f16(static_cast<float>(v));
  else return static_cast<T>(v);
}

// Calls f(T{}) for a float dtype's storage type.
template <class F>
void dispatch_float(const char* k, DType t, F&& f) {
  switch (t) {
    case DType::f32: f(float{}); return;
    case DType::f64: f(double{}); return;
    case DType::bf16: f(bf16{}); return;
    case DType::f16: f(f16{}); return;
    default: fail(k, ": dtype ", name_of(t), " is not a floating-point type");
  }
}

// Calls f(W{}) with an unsigned word of the element size.
template <class F>
void dispatch_word(std::size_t size, F&& f) {
  switch (size) {
    case 2: f(std::uint16_t{}); return;
    case 4: f(std::uint32_t{}); return;
    case 8: f(std::uint64_t{}); return;
    default: fail("cuda: element size ", size, " is not 2, 4 or 8 bytes");
  }
}

inline constexpr int kThreads = 256;

// A grid-stride loop's block count for n elements: enough blocks to fill the device a few times over.
inline unsigned grid_for(std::int64_t n, int sm_count) {
  const std::int64_t need = (n + kThreads - 1) / kThreads;
  const std::int64_t cap = static_cast<std::int64_t>(sm_count) * 8;
  return static_cast<unsigned>(need < 1 ? 1 : (need < cap ? need : cap));
}

// Threads per row block (one block per row): a multiple of 32 up to 1024, about one per element.
inline unsigned row_threads(std::int64_t cols) {
  const std::int64_t t = ((cols + 31) / 32) * 32;
  return static_cast<unsigned>(t < 32 ? 32 : (t > 1024 ? 1024 : t));
}

// Column reductions: a block owns kColTile columns; its kColTile x kRowLanes threads stride the rows by
// kRowLanes, and the partial sums of a column are added in shared memory in a fixed order (deterministic).
inline constexpr int kColTile = 32, kRowLanes = 8;

// Grid-stride iteration over [0, n).
#define HPCT_GRID_LOOP(i, n)                                                                              \
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n);        \
       i += static_cast<std::int64_t>(blockDim.x) * gridDim.x)

template <class A>
__device__ __forceinline__ A warp_sum(A v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
template <class A>
__device__ __forceinline__ A warp_max(A v) {
  for (int o = 16; o > 0; o >>= 1) {
    const A w = __shfl_xor_sync(0xffffffffu, v, o);
    v = w > v ? w : v;
  }
  return v;
}

// The sum (or max) of v over the block, returned to every thread. blockDim.x a multiple of 32, <= 1024.
template <class A>
__device__ A block_sum(A v) {
  __shared__ A part[32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  v = warp_sum(v);
  __syncthreads();  // part may still be read by a previous call
  if (lane == 0) part[warp] = v;
  __syncthreads();
  A t = lane < warps ? part[lane] : A(0);
  return warp_sum(t);
}
template <class A>
__device__ A block_max(A v) {
  __shared__ A part[32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) part[warp] = v;
  __syncthreads();
  A t = lane < warps ? part[lane] : part[0];
  return warp_max(t);
}

// A row's max and sum_c exp(x_c - max) (the sum in double), for a block that owns the row: the stable
// softmax's and logsumexp's two reductions.
template <class T>
struct RowExp {
  acc_t<T> max;
  double sum;
};
template <class T>
__device__ RowExp<T> row_exp(const T* x, std::int64_t cols) {
  using Acc = acc_t<T>;
  Acc mx = -INFINITY;
  for (std::int64_t c = threadIdx.x; c < cols; c += blockDim.x) mx = math::hd_max(mx, static_cast<Acc>(load(x[c])));
  mx = block_max(mx);
  double s = 0.0;
  for (std::int64_t c = threadIdx.x; c < cols; c += blockDim.x)
    s += static_cast<double>(math::hd_exp(static_cast<Acc>(load(x[c])) - mx));
  return {mx, block_sum(s)};
}

// Sequence lengths (i32 [batch], each in [1, len]; null: all len): check_lengths enqueues a kernel that
// reports the first one outside (DeviceError::length_out_of_range, raised at the next wait); the kernels
// then read them through valid_length, clamped, so a bad value never indexes out of bounds.
void check_lengths(const Tensor& lengths, std::int64_t len, cudaStream_t s, DeviceError* err);
// Row keys (i64 [batch], each in [0, max_row]; empty: none): check_row_ids enqueues a kernel that reports
// the first one outside (DeviceError::row_id_out_of_range, raised at the next wait). A bad value only
// gives a wrong mask (math::keyed_index wraps), never an out-of-bounds access.
void check_row_ids(const Tensor& row_ids, std::int64_t max_row, cudaStream_t s, DeviceError* err);
inline const std::int64_t* row_ids_ptr(const Tensor& row_ids) {
  return row_ids.empty() ? nullptr : row_ids.ptr<std::int64_t>();
}
inline const std::int32_t* lengths_ptr(const Tensor& lengths) {
  return lengths.empty() ? nullptr : lengths.ptr<std::int32_t>();
}
__device__ __forceinline__ std::int64_t valid_length(const std::int32_t* lengths, std::int64_t n, std::int64_t len) {
  if (!lengths) return len;
  const std::int64_t l = lengths[n];
  return l < 1 ? 1 : (l > len ? len : l);
}

// Device memory for one op's temporaries, allocated and freed in the stream's order (the pool keeps the
// block cached, so this costs no cudaMalloc).
class Scratch {
 public:
  Scratch(std::size_t bytes, cudaStream_t s) : s_(s) { HPCT_CUDA_CHECK(cudaMallocAsync(&p_, bytes, s_)); }
  ~Scratch() { HPCT_CUDA_WARN(cudaFreeAsync(p_, s_)); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  template <class T>
  T* as() const { return static_cast<T*>(p_); }

 private:
  void* p_ = nullptr;
  cudaStream_t s_;
};

}  // namespace hpct::kernels::cuda
