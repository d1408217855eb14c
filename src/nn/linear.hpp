#pragma once
#include "nn/layer.hpp"
#include "params/parameter_store.hpp"

namespace hpct::nn {

// y = f(x W^T + b), W [out, in], b [out] (PyTorch's nn.Linear layout and default initialisation:
// W, b ~ U(-1/sqrt(in), 1/sqrt(in))), f an optional activation (identity by default): nn.Linear then
// the activation, fused into the gemm's epilogue forward and into the bias gradient backward.
class Linear final : public Layer {
 public:
  Linear(ParameterStore& store, const std::string& prefix, std::int64_t in, std::int64_t out, bool bias = true,
         kernels::Activation act = kernels::Activation::identity);
  Tensor forward(Exec& ex, const Tensor& x, ContextSlot& ctx) override;
  Tensor backward(Exec& ex, const ContextSlot& ctx, const Tensor& dy) override;
  std::string describe() const override;

 private:
  struct Saved : Context {
    Tensor x;    // the input, for dW
    Tensor pre;  // with an activation: x W^T + b, its input
  };
  ParameterStore& store_;
  std::int64_t in_, out_;
  kernels::Activation act_;
  ParamId weight_;
  int bias_ = -1;  // ParamId, or -1 without bias
};

}  // namespace hpct::nn
