#pragma once
#include <vector>

#include "nn/index_cache.hpp"
#include "nn/layer.hpp"

namespace hpct::nn {

// CLS pooling: y[n, :] = x[n, 0, :] for x [N, L, D] (the CLS token that FeatureTokenizer prepends);
// dx is dy at position 0 and zero elsewhere.
class ClsPool final : public Layer {
 public:
  Tensor forward(Exec& ex, const Tensor& x, ContextSlot& ctx) override;
  Tensor backward(Exec& ex, const ContextSlot& ctx, const Tensor& dy) override;
  std::string describe() const override { return "ClsPool"; }

 private:
  struct Saved : Context {
    Shape x_shape;
  };
  // Gather indices per (N, L): the rows n L of x seen as [N L, D]; and for dx the row of [dy; 0]
  // each of its N L rows takes.
  IndexCache first_rows_, dx_rows_;
};

}  // namespace hpct::nn
