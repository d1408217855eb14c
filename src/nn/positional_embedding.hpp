#pragma once
#include "nn/layer.hpp"
#include "params/parameter_store.hpp"

namespace hpct::nn {

// Learned absolute positions: y[n, l, :] = x[n, l, :] + weight[l, :] for x [N, L, D], weight
// [max_len, D] named <prefix>.weight (as an nn.Embedding(max_len, D) looked up at 0 .. L - 1),
// initialised N(0, init_std^2). Computed as a bias over the flattened sequence: y.view([N, L D]) +=
// weight[0 : L] seen as one row of L D, so backward is bias_grad into the first L rows of dweight.
// An input longer than max_len is an error naming both lengths.
class PositionalEmbedding final : public Layer {
 public:
  PositionalEmbedding(ParameterStore& store, const std::string& prefix, std::int64_t max_len, std::int64_t width,
                      double init_std = 1.0);
  Tensor forward(Exec& ex, const Tensor& x, ContextSlot& ctx) override;
  Tensor backward(Exec& ex, const ContextSlot& ctx, const Tensor& dy) override;  // returns dy itself: dx = dy
  std::string describe() const override { return cat("PositionalEmbedding(", max_len_, ", ", width_, ")"); }

 private:
  ParameterStore& store_;
  std::string prefix_;
  std::int64_t max_len_, width_;
  ParamId weight_;
};

}  // namespace hpct::nn
