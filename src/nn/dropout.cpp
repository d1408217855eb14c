#include "nn/dropout.hpp"

namespace hpct::nn {

Dropout::Dropout(double p, std::uint64_t seed, std::uint32_t layer_id) : p_(p), seed_(seed), layer_id_(layer_id) {
  HPCT_CHECK(p >= 0.0 && p < 1.0, "dropout probability must be in [0, 1), got ", p);
  HPCT_CHECK(layer_id < (1u << 16), "too many dropout layers");
}

Tensor Dropout::forward(kernels::Backend& be, const Tensor& x, const Pass& pass) {
  applied_ = pass.training && p_ > 0.0;
  if (!applied_) return x;
  step_ = pass.step;
  Tensor& y = y_.ensure(be.allocator(), x.shape, x.dtype);
  be.dropout_forward(x, y, p_, seed_, stream(step_));
  return y;
}

Tensor Dropout::backward(kernels::Backend& be, const Tensor& dy) {
  if (!applied_) return dy;
  Tensor& dx = dx_.ensure(be.allocator(), dy.shape, dy.dtype);
  be.dropout_backward(dy, dx, p_, seed_, stream(step_));
  return dx;
}

std::string Dropout::describe() const { return cat("Dropout(p=", p_, ")"); }

}  // namespace hpct::nn
