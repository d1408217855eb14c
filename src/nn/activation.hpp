#pragma once
#include "nn/layer.hpp"

namespace hpct::nn {

// Elementwise y = f(x) for the activations of kernels::Activation.
class ActivationLayer final : public Layer {
 public:
  explicit ActivationLayer(kernels::Activation f) : f_(f) {}
  Tensor forward(Exec& ex, const Tensor& x, ContextSlot& ctx) override;
  Tensor backward(Exec& ex, const ContextSlot& ctx, const Tensor& dy) override;
  std::string describe() const override { return cat("Activation(", kernels::to_string(f_), ")"); }

 private:
  kernels::Activation f_;
  struct Saved : Context {
    Tensor x;
  };
};

}  // namespace hpct::nn
