#pragma once
// cuDNN's fused scaled-dot-product attention (flash-style SDPA through the cuDNN frontend's graph API)
// behind attention_forward / attention_backward, for what it can run exactly as our kernels define it
// (cuda_attention.cu, kernels.hpp): bf16 and f16 qkv (cuDNN's SDPA has no fp32), no attention dropout
// (cuDNN's dropout RNG cannot reproduce our Philox stream), head width a multiple of 8 (16-byte
// aligned heads in the fused qkv), and the key-padding and causal masks:
//   - Q, K, V are strided views into qkv [N, L, 3D] (dims [N, H, L, Dh], strides [3LD, Dh, 3D, 1]);
//     out, dout, dQ, dK, dV likewise into [N, L, D] and dqkv. Nothing is copied.
//   - key padding: cuDNN's padding mask with seq_len_kv = lengths and seq_len_q = L, so query rows at
//     padded positions attend over the valid keys as ours do; masked keys get dK = dV = 0 (dqkv is
//     zeroed first: the rows cuDNN skips stay zero).
//   - causal: the diagonal band aligned top-left with right bound 0 (key j <= query i).
//   - the forward saves cuDNN's softmax statistics (the logsumexp of each row of the scaled scores)
//     [N, H, L] f32; the backward recomputes P from them and needs the forward's output.
//   - the backward is cuDNN's deterministic algorithm: the same bits on every run, as ours.
// The forward and backward graphs are built together once per problem and cached (plans and workspace
// sizes); the workspace comes from the stream-ordered pool. HPCTRAIN_CUDNN_SDPA=0 in the environment,
// or a build without the frontend headers (HPCTRAIN_CUDNN_FRONTEND_DIR), leaves every call to our
// kernels; a problem cuDNN reports unsupported on this device does too, with one warning.
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "core/tensor.hpp"

namespace hpct::kernels::cuda {

// `hpctrain info --system`'s line on it: "cuDNN SDPA: frontend 1.32.0" (", off: HPCTRAIN_CUDNN_SDPA=0"),
// or "cuDNN SDPA: not built (...)".
std::string sdpa_report();

// One attention problem: qkv [batch, len, 3 heads dh] of dtype.
struct SdpaProblem {
  DType dtype;
  std::int64_t batch, len, heads, dh;
  bool padded, causal;  // lengths given; causal mask
  friend auto operator<=>(const SdpaProblem&, const SdpaProblem&) = default;
};

class CudnnSdpa {
 public:
  CudnnSdpa();
  ~CudnnSdpa();
  CudnnSdpa(const CudnnSdpa&) = delete;
  CudnnSdpa& operator=(const CudnnSdpa&) = delete;

  // Whether cuDNN runs p: enabled, and both graphs build on this device (cached, failures included).
  bool available(const SdpaProblem& p);
  // Enqueue on s (available(p) must be true). lengths: i32 [batch] on the device, null unless p.padded.
  //   forward:  out [N, L, D] and stats [N, H, L] f32 from qkv;
  //   backward: dqkv [N, L, 3D] from qkv, out, stats and dout.
  void forward(const SdpaProblem& p, const void* qkv, void* out, float* stats, const std::int32_t* lengths,
               cudaStream_t s);
  void backward(const SdpaProblem& p, const void* qkv, const void* out, const float* stats, const void* dout,
                void* dqkv, const std::int32_t* lengths, cudaStream_t s);

 private:
  struct Graphs;  // the frontend's graphs, in cuda_sdpa.cpp alone
  Graphs& graphs_of(const SdpaProblem& p);

  cudnnHandle_t handle_ = nullptr;
  bool enabled_ = false;
  bool warned_ = false;  // the one warning for a problem cuDNN cannot run
  std::mutex mutex_;
  std::map<SdpaProblem, std::unique_ptr<Graphs>> graphs_;  // nullptr: cuDNN cannot run the problem
};

}  // namespace hpct::kernels::cuda
