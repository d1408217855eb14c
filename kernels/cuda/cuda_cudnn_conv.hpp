#pragma once
// cuDNN's convolutions behind the 1-D conv kernels (cuda_conv.cu): a sequence x [N, L, C] is an NHWC
// image of height 1 and width L, the filter is repacked by the caller to NHWC ("KRSC": [Cy, 1, K, Cx]),
// so every tensor has cuDNN's best-supported layout. Only deterministic algorithms (cuDNN's heuristic
// ranking, the first deterministic one that needs at most kMaxWorkspace), chosen once per problem and
// cached with the problem's descriptors (a Plan, kept until the backend's teardown); fp32 and fp64 without TF32 (CUDNN_FMA_MATH), 16-bit with fp32 compute. The workspace comes from
// the stream-ordered pool. Masking by lengths and the biases stay in cuda_conv.cu: cuDNN sees inputs
// whose masked positions are zero.
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

#include "core/tensor.hpp"

namespace hpct::kernels::cuda {

enum class ConvPass { forward, backward_data, backward_filter };

// One problem: x [n, lx, cx], y [n, ly, cy], w [cy, cx, k].
struct ConvProblem {
  ConvPass pass;
  DType dtype;
  std::int64_t n, lx, cx, ly, cy, k, stride, padding, dilation;
  friend auto operator<=>(const ConvProblem&, const ConvProblem&) = default;
};

class CudnnConv {
 public:
  CudnnConv();
  ~CudnnConv();
  CudnnConv(const CudnnConv&) = delete;
  CudnnConv& operator=(const CudnnConv&) = delete;

  // Whether cuDNN runs p (the geometry is expressible, the output length matches, a deterministic
  // algorithm exists); the choice is cached with p's descriptors. HPCTRAIN_CUDNN_CONV=0 in the
  // environment: never (the direct kernels run everything).
  bool available(const ConvProblem& p);
  // Enqueues p on s (available(p) must be true), outputs overwritten:
  //   forward:          a = x, b = w (KRSC)  -> out = y
  //   backward_data:    a = dy, b = w (KRSC) -> out = dx
  //   backward_filter:  a = x, b = dy        -> out = dw (KRSC)
  void run(const ConvProblem& p, const void* a, const void* b, void* out, cudaStream_t s);

  static constexpr std::size_t kMaxWorkspace = std::size_t{512} << 20;

 private:
  // One problem's descriptors and algorithm, made on its first use (cuda_cudnn_conv.cpp).
  struct Plan;
  const Plan& plan_of(const ConvProblem& p);

  cudnnHandle_t handle_ = nullptr;
  bool enabled_ = true;
  std::mutex mutex_;
  std::map<ConvProblem, std::unique_ptr<Plan>> plans_;  // under mutex_
};

}  // namespace hpct::kernels::cuda
