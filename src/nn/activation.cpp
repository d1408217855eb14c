#include "nn/activation.hpp"

namespace hpct::nn {

Tensor ActivationLayer::forward(Exec& ex, const Tensor& x, ContextSlot& ctx) {
  make_context<Saved>(ctx).x = x;
  const Tensor y = ex.alloc(x.shape, x.dtype);
  ex.be.activation_forward(f_, x, y);
  return y;
}

Tensor ActivationLayer::backward(Exec& ex, const ContextSlot& ctx, const Tensor& dy) {
  const Tensor dx = ex.alloc(dy.shape, dy.dtype);
  ex.be.activation_backward(f_, context_of<Saved>(ctx).x, dy, dx);
  return dx;
}

}  // namespace hpct::nn
