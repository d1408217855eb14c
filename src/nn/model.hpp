#pragma once
// A model: its parameters (one ParameterStore), a forward from a batch of inputs to the output the
// loss reads, and a backward from dL/doutput that fills the store's gradient buffer.
//
// Inputs and outputs by model type (N samples, F features, L positions, D = d_model):
//   mlp, transformer-tabular   x [N, F]                      -> [N, out]
//   transformer                tokens [N, L] or x [N, L, F]  -> [N, L, out] (token level) or [N, out]
//   lm                         tokens [N, L] (bytes)         -> [N, L, 256] next-byte logits
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "nn/layer.hpp"
#include "nn/model_spec.hpp"
#include "params/parameter_store.hpp"

namespace hpct::nn {

// One batch of inputs, on the device. Sequences come with their lengths (i32 [N], each in [1, L];
// empty: all L); positions >= lengths[n] are padding, masked as attention keys and in pooling.
struct ModelInput {
  Tensor x;        // float [N, F] or [N, L, F]; empty with tokens
  Tensor tokens;   // int32 [N, L]; empty unless the data are token ids
  Tensor lengths;  // int32 [N]
  // int64 [N]: the data set's row of each input row (the trainer keys dropout and the ssvae's noise
  // by it through Pass::row_ids); empty when unknown.
  Tensor row_ids{};
};

// What one forward of a model saved for its backward (each model's own Context in `root`). Filled by
// forward and reused by the next forward given the same ModelContext.
struct ModelContext {
  ContextSlot root;
};

class Model {
 public:
  virtual ~Model() = default;
  // The output is a view into ex's workspace, valid until the workspace is reset.
  virtual Tensor forward(Exec& ex, const ModelInput& in, ModelContext& ctx) = 0;
  // Float inputs only, no lengths (tabular models).
  Tensor forward(Exec& ex, const Tensor& x, ModelContext& ctx) { return forward(ex, ModelInput{x, {}, {}}, ctx); }
  // Accumulates into the gradient buffer (callers zero it between optimizer steps).
  virtual void backward(Exec& ex, const ModelContext& ctx, const Tensor& doutput) = 0;
  virtual std::string describe() const = 0;

  // Models whose training objective is not a loss of their output (ssvae): the trainer calls
  // forward_objective instead of forward and the loss, then backward with an empty doutput. It adds
  // {sum, count} of the objective to acc (f64 [2]) and keeps its gradients (scaled as LossArgs says)
  // for backward. `labels` i32 [N] (-1: unlabelled).
  virtual bool owns_objective() const { return false; }
  virtual void forward_objective(Exec& ex, const ModelInput& in, const Tensor& labels, const kernels::LossArgs& args,
                                 const Tensor& acc, ModelContext& ctx);

  ParameterStore& params() { return params_; }
  const ParameterStore& params() const { return params_; }
  const ModelSpec& spec() const { return spec_; }

  // Called during backward each time the gradients of every parameter at flat offset >= `offset`
  // are final (parameters are laid out in forward order and backward runs last layer first), so DDP
  // can start reducing those buckets while the earlier layers still compute.
  using GradReadyHook = std::function<void(std::int64_t offset)>;
  void set_grad_ready_hook(GradReadyHook hook) { grad_ready_ = std::move(hook); }

 protected:
  void grads_ready_from(std::int64_t offset) {
    if (grad_ready_) grad_ready_(offset);
  }
  GradReadyHook grad_ready_;
  Model(ModelSpec spec, DType dtype) : spec_(std::move(spec)), params_(dtype) {}
  ModelSpec spec_;
  ParameterStore params_;
};

// Checks the spec (errors name the [model] option and value), builds the model and finalizes its
// parameters on the backend with the seed. The data-dependent checks (a model type that does not fit
// the data, sequences longer than max_length) are the caller's, who knows the file.
std::unique_ptr<Model> build_model(const ModelSpec& spec, kernels::Backend& be, std::uint64_t seed,
                                   DType dtype = DType::f32);

}  // namespace hpct::nn
