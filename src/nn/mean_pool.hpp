#pragma once
#include "nn/layer.hpp"
#include "nn/sequence_mask.hpp"

namespace hpct::nn {

// Masked mean over positions: y[n, :] = sum_{l < len_n} x[n, l, :] / len_n for x [N, L, D], len_n the
// SequenceMask's lengths (all L without them). Padded positions get zero gradient.
class MeanPool final : public Layer {
 public:
  Tensor forward(Exec& ex, const Tensor& x, ContextSlot& ctx) override { return forward(ex, x, {}, ctx); }
  Tensor forward(Exec& ex, const Tensor& x, const SequenceMask& mask, ContextSlot& ctx);
  Tensor backward(Exec& ex, const ContextSlot& ctx, const Tensor& dy) override;
  std::string describe() const override { return "MeanPool"; }

 private:
  struct Saved : Context {
    Shape x_shape;
    Tensor lengths;
  };
};

}  // namespace hpct::nn
