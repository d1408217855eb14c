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

// One batch of inputs. Sequences come with their lengths (host memory, each in [1, L]; nullptr: all L);
// positions >= lengths[n] are padding, masked as attention keys and in pooling.
struct ModelInput {
  Tensor x;                                // float [N, F] or [N, L, F]; empty with tokens
  Tensor tokens;                           // int32 [N, L]; empty unless the data are token ids
  const std::int32_t* lengths = nullptr;   // host [N]
};

class Model {
 public:
  virtual ~Model() = default;
  // The returned view stays valid until the next forward.
  virtual Tensor forward(kernels::Backend& be, const ModelInput& in, const Pass& pass) = 0;
  // Float inputs only, no lengths (tabular models).
  Tensor forward(kernels::Backend& be, const Tensor& x, const Pass& pass) { return forward(be, ModelInput{x, {}, nullptr}, pass); }
  // Accumulates into the gradient buffer (callers zero it between optimizer steps).
  virtual void backward(kernels::Backend& be, const Tensor& doutput) = 0;
  virtual std::string describe() const = 0;

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
