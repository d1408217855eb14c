// CudnnConv (cuda_cudnn_conv.hpp): cuDNN's legacy convolution API on NHWC tensors of height 1.
#include "kernels/cuda/cuda_cudnn_conv.hpp"

#include <climits>
#include <cstdlib>
#include <string>

#include "core/error.hpp"
#include "kernels/cuda/cuda_backend.hpp"
#include "kernels/cuda/cuda_check.hpp"
#include "kernels/cuda/cuda_workspace.hpp"

namespace hpct::kernels::cuda {

// One problem's descriptors and the algorithm chosen for it (choose()), made once and kept in the
// cache until the backend's teardown; a failed destruction there is only warned about.
struct CudnnConv::Plan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnDataType_t data = CUDNN_DATA_FLOAT, compute = CUDNN_DATA_FLOAT;
  bool expressible = false;  // every extent fits an int and cuDNN's output length is ly
  // The algorithm (ok: there is one; run() then needs no other check), its math type (set on conv)
  // and the workspace it needs.
  bool ok = false;
  int algo = 0;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  std::size_t workspace = 0;

  explicit Plan(const ConvProblem& p) {
    HPCT_CUDNN_CHECK(cudnnCreateTensorDescriptor(&x));
    HPCT_CUDNN_CHECK(cudnnCreateTensorDescriptor(&y));
    HPCT_CUDNN_CHECK(cudnnCreateFilterDescriptor(&w));
    HPCT_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv));
    switch (p.dtype) {
      case DType::f64: data = compute = CUDNN_DATA_DOUBLE; break;
      case DType::bf16: data = CUDNN_DATA_BFLOAT16; break;
      case DType::f16: data = CUDNN_DATA_HALF; break;
      default: break;
    }
    for (const std::int64_t v : {p.n, p.lx, p.cx, p.ly, p.cy, p.k, p.stride, p.padding, p.dilation})
      if (v > INT_MAX) return;
    const auto i = [](std::int64_t v) { return static_cast<int>(v); };
    HPCT_CUDNN_CHECK(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NHWC, data, i(p.n), i(p.cx), 1, i(p.lx)));
    HPCT_CUDNN_CHECK(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NHWC, data, i(p.n), i(p.cy), 1, i(p.ly)));
    HPCT_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w, data, CUDNN_TENSOR_NHWC, i(p.cy), i(p.cx), 1, i(p.k)));
    HPCT_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv, 0, i(p.padding), 1, i(p.stride), 1, i(p.dilation),
                                                     CUDNN_CROSS_CORRELATION, compute));
    // A transposed conv's output_padding can make x longer than the conv of y needs: cuDNN then
    // disagrees on the output length, and the direct kernels run it.
    int on = 0, oc = 0, oh = 0, ow = 0;
    HPCT_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(conv, x, w, &on, &oc, &oh, &ow));
    expressible = on == p.n && oc == p.cy && oh == 1 && ow == p.ly;
  }
  ~Plan() {
    if (conv) HPCT_CUDNN_WARN(cudnnDestroyConvolutionDescriptor(conv));
    if (w) HPCT_CUDNN_WARN(cudnnDestroyFilterDescriptor(w));
    if (y) HPCT_CUDNN_WARN(cudnnDestroyTensorDescriptor(y));
    if (x) HPCT_CUDNN_WARN(cudnnDestroyTensorDescriptor(x));
  }
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;

  void choose(cudnnHandle_t handle, const ConvProblem& p);
};

CudnnConv::CudnnConv() {
  const char* env = std::getenv("HPCTRAIN_CUDNN_CONV");
  enabled_ = !(env && std::string(env) == "0");
  if (enabled_) HPCT_CUDNN_CHECK(cudnnCreate(&handle_));
}

CudnnConv::~CudnnConv() {
  plans_.clear();  // the descriptors go before the handle
  if (handle_) HPCT_CUDNN_WARN(cudnnDestroy(handle_));
}

CudnnConv& CudaBackend::cudnn_conv() {
  if (!cudnn_conv_) cudnn_conv_ = std::make_shared<CudnnConv>();
  return *cudnn_conv_;
}

namespace {

// The first usable entry of a heuristic ranking: cuDNN could run it, deterministic, workspace within
// the limit, and no TF32 for fp32 (CUDNN_FMA_MATH or the default math, which the descriptor restricts).
template <class Perf>
bool pick(const Perf* perf, int count, bool wide, int* algo, cudnnMathType_t* math, std::size_t* ws) {
  for (int i = 0; i < count; ++i) {
    const Perf& r = perf[i];
    if (r.status != CUDNN_STATUS_SUCCESS || r.determinism != CUDNN_DETERMINISTIC || r.memory > CudnnConv::kMaxWorkspace)
      continue;
    if (wide && r.mathType != CUDNN_FMA_MATH && r.mathType != CUDNN_DEFAULT_MATH) continue;
    *algo = static_cast<int>(r.algo);
    *math = wide ? CUDNN_FMA_MATH : r.mathType;
    *ws = r.memory;
    return true;
  }
  return false;
}

}  // namespace

// The heuristic ranking of p's pass, its first usable entry (pick), and that entry's math type set on
// the convolution descriptor for every run.
void CudnnConv::Plan::choose(cudnnHandle_t handle, const ConvProblem& p) {
  if (!expressible) return;
  const bool wide = p.dtype == DType::f32 || p.dtype == DType::f64;
  HPCT_CUDNN_CHECK(cudnnSetConvolutionMathType(conv, wide ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH));
  int got = 0;
  switch (p.pass) {
    case ConvPass::forward: {
      cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
      HPCT_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(handle, x, w, conv, y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
                                                              &got, perf));
      ok = pick(perf, got, wide, &algo, &math, &workspace);
      break;
    }
    case ConvPass::backward_data: {
      cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
      HPCT_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(handle, w, y, conv, x,
                                                                   CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &got, perf));
      ok = pick(perf, got, wide, &algo, &math, &workspace);
      break;
    }
    case ConvPass::backward_filter: {
      cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
      HPCT_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
          handle, x, y, conv, w, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &got, perf));
      ok = pick(perf, got, wide, &algo, &math, &workspace);
      break;
    }
  }
  if (ok) HPCT_CUDNN_CHECK(cudnnSetConvolutionMathType(conv, math));
}

// Under mutex_.
const CudnnConv::Plan& CudnnConv::plan_of(const ConvProblem& p) {
  auto it = plans_.find(p);
  if (it == plans_.end()) {
    auto plan = std::make_unique<Plan>(p);
    plan->choose(handle_, p);
    it = plans_.emplace(p, std::move(plan)).first;
  }
  return *it->second;
}

bool CudnnConv::available(const ConvProblem& p) {
  if (!enabled_) return false;
  const std::lock_guard<std::mutex> lock(mutex_);
  return plan_of(p).ok;
}

void CudnnConv::run(const ConvProblem& p, const void* a, const void* b, void* out, cudaStream_t s) {
  const std::lock_guard<std::mutex> lock(mutex_);
  const Plan& d = plan_of(p);
  HPCT_CHECK(d.ok, "cudnn conv: no algorithm for this problem (call available() first)");
  HPCT_CUDNN_CHECK(cudnnSetStream(handle_, s));
  // alpha = 1, beta = 0 in the compute type's host type (double for fp64, float otherwise).
  const double one_d = 1.0, zero_d = 0.0;
  const float one_f = 1.0f, zero_f = 0.0f;
  const bool dbl = p.dtype == DType::f64;
  const void* one = dbl ? static_cast<const void*>(&one_d) : &one_f;
  const void* zero = dbl ? static_cast<const void*>(&zero_d) : &zero_f;
  const Workspace ws(d.workspace, s);
  switch (p.pass) {
    case ConvPass::forward:
      HPCT_CUDNN_CHECK(cudnnConvolutionForward(handle_, one, d.x, a, d.w, b, d.conv,
                                               static_cast<cudnnConvolutionFwdAlgo_t>(d.algo), ws.p, d.workspace,
                                               zero, d.y, out));
      break;
    case ConvPass::backward_data:
      HPCT_CUDNN_CHECK(cudnnConvolutionBackwardData(handle_, one, d.w, b, d.y, a, d.conv,
                                                    static_cast<cudnnConvolutionBwdDataAlgo_t>(d.algo), ws.p,
                                                    d.workspace, zero, d.x, out));
      break;
    case ConvPass::backward_filter:
      HPCT_CUDNN_CHECK(cudnnConvolutionBackwardFilter(handle_, one, d.x, a, d.y, b, d.conv,
                                                      static_cast<cudnnConvolutionBwdFilterAlgo_t>(d.algo), ws.p,
                                                      d.workspace, zero, d.w, out));
      break;
  }
}

}  // namespace hpct::kernels::cuda
