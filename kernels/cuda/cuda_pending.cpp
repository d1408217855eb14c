// CudaBackend: the ops without a CUDA implementation yet. Each throws naming itself, so a model that
// needs one fails at its first call with a clear message (attention arrives with cuDNN's SDPA, the
// convolutions with cuDNN's convolution forward / backward-data / backward-filter; the SSVAE's kernels
// with the same Philox stream as the CPU).
#include "core/error.hpp"
#include "kernels/cuda/cuda_backend.hpp"

namespace hpct::kernels::cuda {
namespace {

[[noreturn]] void not_yet(const char* op) { fail("cuda: ", op, " is not implemented yet"); }

}  // namespace

void CudaBackend::attention_forward_impl(const Tensor&, const Tensor&, const Tensor&, const AttentionArgs&) {
  not_yet("attention_forward");
}
void CudaBackend::attention_backward_impl(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                          const AttentionArgs&) {
  not_yet("attention_backward");
}
void CudaBackend::embedding_forward_impl(const Tensor&, const Tensor&, const Tensor&) { not_yet("embedding_forward"); }
void CudaBackend::embedding_backward_impl(const Tensor&, const Tensor&, const Tensor&) {
  not_yet("embedding_backward");
}
void CudaBackend::feature_tokens_forward_impl(const Tensor&, const Tensor&, const Tensor&, const Tensor&) {
  not_yet("feature_tokens_forward");
}
void CudaBackend::feature_tokens_backward_impl(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                               const Tensor&, const Tensor&) {
  not_yet("feature_tokens_backward");
}
void CudaBackend::mean_pool_forward_impl(const Tensor&, const Tensor&, const Tensor&) { not_yet("mean_pool_forward"); }
void CudaBackend::mean_pool_backward_impl(const Tensor&, const Tensor&, const Tensor&) {
  not_yet("mean_pool_backward");
}

void CudaBackend::conv1d_forward_impl(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Conv1dGeom&) {
  not_yet("conv1d_forward");
}
void CudaBackend::conv1d_backward_data_impl(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                            const Conv1dGeom&) {
  not_yet("conv1d_backward_data");
}
void CudaBackend::conv1d_backward_filter_impl(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                              const Conv1dGeom&) {
  not_yet("conv1d_backward_filter");
}

void CudaBackend::class_concat_forward_impl(const Tensor&, std::int64_t, bool, const Tensor&) {
  not_yet("class_concat_forward");
}
void CudaBackend::class_concat_backward_impl(const Tensor&, std::int64_t, bool, const Tensor&) {
  not_yet("class_concat_backward");
}
void CudaBackend::normal_fill_impl(const Tensor&, std::uint64_t, std::uint64_t) { not_yet("normal_fill"); }
void CudaBackend::reparam_forward_impl(const Tensor&, const Tensor&, const Tensor&) { not_yet("reparam_forward"); }
void CudaBackend::reparam_backward_impl(const Tensor&, const Tensor&, const Tensor&, const Tensor&) {
  not_yet("reparam_backward");
}
void CudaBackend::ssvae_objective_impl(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                       const SsvaeArgs&, const LossArgs&, const Tensor&, const Tensor&, const Tensor&,
                                       const Tensor&) {
  not_yet("ssvae_objective");
}

}  // namespace hpct::kernels::cuda
