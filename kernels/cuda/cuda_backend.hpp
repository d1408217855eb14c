#pragma once
// The CUDA backend: one GPU (a device index), ops as kernels on the current CudaStream, gemm through
// cuBLASLt, memory from a stream-ordered pool (cuda_allocator.hpp). Arguments arrive validated
// (kernels/backend.cpp); values in device memory are checked by the kernels (device_error.hpp).
//
// One concern per file: cuda_backend.cpp (device, streams, synchronize, device errors), cuda_memory.cu
// (copy, fill, cast, gather_rows), cuda_gemm.cpp (cuBLASLt), cuda_elementwise.cu (bias, axpy, scale,
// activations, dropout), cuda_reduce.cu (sum_squares, checksum), cuda_norm.cu (layernorm, softmax),
// cuda_loss.cu, cuda_optim.cu (step control, loss scaling, AdamW, SGD), cuda_attention.cu (fused
// attention: cuDNN's SDPA through cuda_sdpa.cpp where it runs the call, our kernels otherwise),
// cuda_embedding.cu (token embedding, feature tokens), cuda_pool.cu (mean pooling),
// cuda_conv.cu (the three 1-D convolution kernels: cuDNN through cuda_cudnn_conv.cpp where it can,
// direct kernels otherwise), cuda_ssvae.cu (the SSVAE's kernels), cuda_lengths.cu (the sequence-lengths
// check they share).
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

#include "kernels/cuda/cuda_allocator.hpp"
#include "kernels/cuda/cuda_stream.hpp"
#include "kernels/cuda/cuda_trace.hpp"
#include "kernels/cuda/device_error.hpp"
#include "kernels/kernels.hpp"

namespace hpct::kernels::cuda {

class CudnnConv;  // cuda_cudnn_conv.hpp
class CudnnSdpa;  // cuda_sdpa.hpp

// GPUs CUDA lets this process use (cudaGetDeviceCount); 0 with the CUDA error in *why when none.
int visible_devices(std::string* why);

class CudaBackend final : public Backend {
 public:
  // tf32: fp32 GEMMs on TF32 tensor cores (cuda_gemm.cpp; --precision.tf32).
  explicit CudaBackend(int device, bool tf32 = false);
  ~CudaBackend() override;

  std::string name() const override { return "cuda:" + std::to_string(device_); }
  Device device() const override { return {DeviceKind::cuda, device_}; }
  Allocator& allocator() override { return *allocator_; }
  Allocator& pinned_host_allocator() override { return pinned_; }
  bool has_pinned_host_memory() const override { return true; }
  int threads() const override { return 1; }
  // Attention saves cuDNN's softmax statistics [N, H, L] f32 where cuDNN runs the call (sdpa_runs),
  // else the probabilities as the CPU does (cuda_attention.cu), in f32 for 16-bit qkv.
  Shape attention_saved_shape(const Shape& qkv, DType dtype, const AttentionArgs& args) const override;
  DType attention_saved_dtype(const Shape& qkv, DType dtype, const AttentionArgs& args) const override;

  void device_span_begin() override;
  void device_span_end(const char* name, const char* category) override;

  std::unique_ptr<Stream> create_stream() override;
  std::unique_ptr<Event> create_event() override;
  void synchronize() override;

  // The current stream's handle (every op launches there).
  cudaStream_t cur() { return native(stream()); }
  // The device's multiprocessor count (grid sizes).
  int sm_count() const { return sm_count_; }
  // Where kernels report value errors (mapped pinned memory, device_error.hpp).
  DeviceError* device_error() const { return error_device_; }
  // cuDNN's convolutions (cuda_cudnn_conv.hpp), its handle created on first use.
  CudnnConv& cudnn_conv();
  // cuDNN's fused attention (cuda_sdpa.hpp), created on first use (const: the saved-state queries ask).
  CudnnSdpa& cudnn_sdpa() const;
  // Whether cuDNN's SDPA runs an attention call on qkv of this shape and dtype with these args: the one
  // choice behind the saved state's layout and both passes (cuda_attention.cu).
  bool sdpa_runs(const Shape& qkv, DType dtype, const AttentionArgs& args) const;

 protected:
  void copy_impl(const Tensor& dst, const Tensor& src) override;
  void fill_impl(const Tensor& t, double value) override;
  void cast_impl(const Tensor& src, const Tensor& dst) override;
  void gather_rows_impl(const Tensor& src, const Tensor& index, const Tensor& out) override;
  void gemm_impl(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, const Tensor& c, double alpha,
                 double beta, const GemmEpilogue& epilogue) override;
  void bias_add_impl(const Tensor& y, const Tensor& bias) override;
  void bias_grad_impl(const Tensor& dy, const Tensor& dbias) override;
  void axpy_impl(double alpha, const Tensor& x, const Tensor& y) override;
  void scale_impl(const Tensor& x, double alpha) override;
  void sum_squares_impl(const Tensor& x, const Tensor& out) override;
  void checksum_impl(const Tensor& x, const Tensor& out) override;
  void activation_forward_impl(Activation f, const Tensor& x, const Tensor& y) override;
  void activation_backward_impl(Activation f, const Tensor& x, const Tensor& dy, const Tensor& dx) override;
  void activation_bias_grad_impl(Activation f, const Tensor& x, const Tensor& dy, const Tensor& dx,
                                 const Tensor& dbias) override;
  void dropout_forward_impl(const Tensor& x, const Tensor& y, double p, std::uint64_t seed,
                            std::uint64_t stream, const Tensor& row_ids) override;
  void dropout_backward_impl(const Tensor& dy, const Tensor& dx, double p, std::uint64_t seed,
                             std::uint64_t stream, const Tensor& row_ids) override;
  void layernorm_forward_impl(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& y,
                              const Tensor& mean, const Tensor& rstd, double eps) override;
  void layernorm_backward_impl(const Tensor& x, const Tensor& gamma, const Tensor& mean, const Tensor& rstd,
                               const Tensor& dy, const Tensor& dx, const Tensor& dgamma, const Tensor& dbeta) override;
  void softmax_forward_impl(const Tensor& x, const Tensor& y) override;
  void softmax_backward_impl(const Tensor& y, const Tensor& dy, const Tensor& dx) override;
  void attention_forward_impl(const Tensor& qkv, const Tensor& out, const Tensor& saved,
                              const AttentionArgs& args) override;
  void attention_backward_impl(const Tensor& qkv, const Tensor& out, const Tensor& saved, const Tensor& dout,
                               const Tensor& dqkv, const AttentionArgs& args) override;
  void embedding_forward_impl(const Tensor& ids, const Tensor& table, const Tensor& out) override;
  void embedding_backward_impl(const Tensor& ids, const Tensor& dout, const Tensor& dtable) override;
  void feature_tokens_forward_impl(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& out) override;
  void feature_tokens_backward_impl(const Tensor& x, const Tensor& w, const Tensor& dout, const Tensor& dx,
                                    const Tensor& dw, const Tensor& db) override;
  void mean_pool_forward_impl(const Tensor& x, const Tensor& lengths, const Tensor& out) override;
  void mean_pool_backward_impl(const Tensor& dout, const Tensor& lengths, const Tensor& dx) override;
  void conv1d_forward_impl(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y,
                           const Conv1dGeom& g) override;
  void conv1d_backward_data_impl(const Tensor& dy, const Tensor& w, const Tensor& bias, const Tensor& dx,
                                 const Conv1dGeom& g) override;
  void conv1d_backward_filter_impl(const Tensor& x, const Tensor& dy, const Tensor& dw, const Tensor& dbias,
                                   const Conv1dGeom& g) override;
  void class_concat_forward_impl(const Tensor& a, std::int64_t classes, bool expand, const Tensor& out) override;
  void class_concat_backward_impl(const Tensor& dout, std::int64_t classes, bool expand, const Tensor& da) override;
  void normal_fill_impl(const Tensor& out, std::uint64_t seed, std::uint64_t stream,
                        const Tensor& row_ids) override;
  void reparam_forward_impl(const Tensor& enc, const Tensor& eps, const Tensor& z) override;
  void reparam_backward_impl(const Tensor& enc, const Tensor& eps, const Tensor& dz, const Tensor& denc) override;
  void ssvae_objective_impl(const Tensor& x, const Tensor& logits, const Tensor& labels, const Tensor& enc,
                            const Tensor& recon, const SsvaeArgs& ssvae, const LossArgs& args, const Tensor& acc,
                            const Tensor& dlogits, const Tensor& denc, const Tensor& drecon) override;
  void float_loss_impl(FloatLoss kind, const Tensor& pred, const Tensor& target, const Tensor& dpred,
                       const LossArgs& args, const Tensor& acc) override;
  void softmax_ce_loss_impl(const Tensor& logits, const Tensor& labels, const Tensor& dlogits, const LossArgs& args,
                            const Tensor& acc) override;
  void scale_by_impl(const Tensor& x, const Tensor& factor) override;
  void step_control_impl(const StepControlArgs& args, const Tensor& count, const Tensor& sumsq,
                         const Tensor& loss_scale, const Tensor& control) override;
  void update_loss_scale_impl(const LossScaleArgs& args, const Tensor& control, const Tensor& state) override;
  void adamw_step_impl(const Tensor& params, const Tensor& master, const Tensor& grads, const Tensor& m,
                       const Tensor& v, const AdamWParams& hp, const Tensor& control) override;
  void sgd_step_impl(const Tensor& params, const Tensor& master, const Tensor& grads, const Tensor& momentum_buf,
                     const SgdParams& hp, const Tensor& control) override;

 private:
  // After every completed host wait: count it, raise a device-side error.
  void after_wait();
  // cuBLASLt's heuristic pick per problem, cached (cuda_gemm.cpp).
  struct GemmKey {
    int dtype, epilogue;
    std::int64_t m, n, k;
    bool ta, tb, beta;
    std::uint32_t align;  // the largest power of two dividing every pointer, <= 256
    friend auto operator<=>(const GemmKey&, const GemmKey&) = default;
  };
  const cublasLtMatmulAlgo_t* gemm_algo(const GemmKey& key, cublasLtMatmulDesc_t op, cublasLtMatrixLayout_t a,
                                        cublasLtMatrixLayout_t b, cublasLtMatrixLayout_t c);

  int device_;
  bool tf32_ = false;
  int sm_count_ = 0;
  std::unique_ptr<CudaStream> stream_;
  std::shared_ptr<CudaPoolAllocator> allocator_;  // streams outliving the backend hold it weakly
  CudaPinnedAllocator pinned_;
  DeviceError* error_host_ = nullptr;    // mapped pinned memory ...
  DeviceError* error_device_ = nullptr;  // ... and its device address
  cublasLtHandle_t lt_ = nullptr;
  void* lt_workspace_ = nullptr;
  std::size_t lt_workspace_bytes_ = 0;
  std::mutex gemm_mutex_;
  std::map<GemmKey, std::unique_ptr<cublasLtMatmulAlgo_t>> gemm_algos_;  // nullptr entry: no algorithm
  std::unique_ptr<CudaTimeline> timeline_;  // made on the first traced span
  std::map<cudaStream_t, std::string> tracks_;  // the timeline's track name of each stream
  std::shared_ptr<CudnnConv> cudnn_conv_;  // shared_ptr: destroyed without the complete type here
  mutable std::mutex sdpa_mutex_;            // guards cudnn_sdpa_'s creation
  mutable std::shared_ptr<CudnnSdpa> cudnn_sdpa_;
};

}  // namespace hpct::kernels::cuda
