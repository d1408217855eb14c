#pragma once
// A model: its parameters (one ParameterStore), a forward from a batch of inputs to the output the
// loss reads, and a backward from dL/doutput that fills the store's gradient buffer.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "nn/layer.hpp"
#include "nn/model_spec.hpp"
#include "nn/parameter_store.hpp"

namespace hpct::nn {

class Model {
 public:
  virtual ~Model() = default;
  virtual Tensor forward(kernels::Backend& be, const Tensor& x, const Pass& pass) = 0;
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
// parameters on the backend with the seed.
std::unique_ptr<Model> build_model(const ModelSpec& spec, kernels::Backend& be, std::uint64_t seed,
                                   DType dtype = DType::f32);

}  // namespace hpct::nn
