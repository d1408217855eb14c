#pragma once
#include "nn/layer.hpp"
#include "nn/sequence_mask.hpp"

namespace hpct::nn {

// Masked mean over positions: y[n, :] = sum_{l < len_n} x[n, l, :] / len_n for x [N, L, D], len_n the
// SequenceMask's lengths (all L without them). Padded positions get zero gradient.
class MeanPool final : public Layer {
 public:
  Tensor forward(kernels::Backend& be, const Tensor& x, const Pass& pass) override { return forward(be, x, pass, {}); }
  Tensor forward(kernels::Backend& be, const Tensor& x, const Pass& pass, const SequenceMask& mask);
  Tensor backward(kernels::Backend& be, const Tensor& dy) override;
  std::string describe() const override { return "MeanPool"; }

 private:
  Shape x_shape_;
  SavedMask mask_;
  Buffer y_, dx_;
};

}  // namespace hpct::nn
