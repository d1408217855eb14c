#pragma once
#include "nn/layer.hpp"
#include "params/parameter_store.hpp"

namespace hpct::nn {

// LayerNorm over the last dimension with affine gamma (init 1) and beta (init 0), as nn.LayerNorm.
class LayerNorm final : public Layer {
 public:
  LayerNorm(ParameterStore& store, const std::string& prefix, std::int64_t width, double eps = 1e-5);
  Tensor forward(Exec& ex, const Tensor& x, ContextSlot& ctx) override;
  Tensor backward(Exec& ex, const ContextSlot& ctx, const Tensor& dy) override;
  std::string describe() const override { return cat("LayerNorm(", width_, ")"); }

 private:
  ParameterStore& store_;
  std::int64_t width_;
  double eps_;
  ParamId gamma_, beta_;
  struct Saved : Context {
    Tensor x, mean, rstd;  // the input and its row statistics (kernels::stats_dtype)
  };
};

}  // namespace hpct::nn
