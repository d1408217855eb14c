#pragma once
#include <vector>

#include "nn/layer.hpp"

namespace hpct::nn {

// CLS pooling: y[n, :] = x[n, 0, :] for x [N, L, D] (the CLS token that FeatureTokenizer prepends);
// dx is dy at position 0 and zero elsewhere.
class ClsPool final : public Layer {
 public:
  Tensor forward(kernels::Backend& be, const Tensor& x, const Pass& pass) override;
  Tensor backward(kernels::Backend& be, const Tensor& dy) override;
  std::string describe() const override { return "ClsPool"; }

 private:
  Shape x_shape_;
  std::vector<std::int64_t> first_rows_, dx_rows_;  // gather indices, rebuilt when N or L change
  Buffer y_, dy_and_zero_, dx_;
};

}  // namespace hpct::nn
