#include "nn/activation.hpp"

namespace hpct::nn {

Tensor ActivationLayer::forward(kernels::Backend& be, const Tensor& x, const Pass&) {
  x_ = x;
  Tensor& y = y_.ensure(be.allocator(), x.shape, x.dtype);
  be.activation_forward(f_, x, y);
  return y;
}

Tensor ActivationLayer::backward(kernels::Backend& be, const Tensor& dy) {
  Tensor& dx = dx_.ensure(be.allocator(), dy.shape, dy.dtype);
  be.activation_backward(f_, x_, dy, dx);
  return dx;
}

}  // namespace hpct::nn
