#pragma once
#include "nn/layer.hpp"

namespace hpct::nn {

// Elementwise y = f(x) for the activations of kernels::Activation.
class ActivationLayer final : public Layer {
 public:
  explicit ActivationLayer(kernels::Activation f) : f_(f) {}
  Tensor forward(kernels::Backend& be, const Tensor& x, const Pass& pass) override;
  Tensor backward(kernels::Backend& be, const Tensor& dy) override;
  std::string describe() const override { return cat("Activation(", kernels::to_string(f_), ")"); }

 private:
  kernels::Activation f_;
  Tensor x_;
  Buffer y_, dx_;
};

}  // namespace hpct::nn
