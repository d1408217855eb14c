#pragma once
#include "nn/layer.hpp"
#include "params/parameter_store.hpp"

namespace hpct::nn {

// Token embedding, as nn.Embedding(vocab, width): y[n, l, :] = weight[ids[n, l], :], weight [V, D]
// named <prefix>.weight, initialised N(0, init_std^2) (PyTorch's default is std 1; GPT-2 uses 0.02).
// The input is int32 ids of any shape; y has that shape plus D. backward accumulates dweight and
// returns an empty tensor: ids have no gradient. An id outside [0, V) is an error naming its position.
class TokenEmbedding final : public Layer {
 public:
  TokenEmbedding(ParameterStore& store, const std::string& prefix, std::int64_t vocab, std::int64_t width,
                 double init_std = 1.0);
  Tensor forward(Exec& ex, const Tensor& ids, ContextSlot& ctx) override;
  Tensor backward(Exec& ex, const ContextSlot& ctx, const Tensor& dy) override;
  std::string describe() const override { return cat("TokenEmbedding(", vocab_, ", ", width_, ")"); }

 private:
  ParameterStore& store_;
  std::int64_t vocab_, width_;
  ParamId weight_;
  struct Saved : Context {
    Tensor ids;
  };
};

}  // namespace hpct::nn
