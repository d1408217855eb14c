#include "nn/linear.hpp"

#include <cmath>

namespace hpct::nn {

Linear::Linear(ParameterStore& store, const std::string& prefix, std::int64_t in, std::int64_t out, bool bias,
               kernels::Activation act)
    : store_(store), in_(in), out_(out), act_(act) {
  HPCT_CHECK(in > 0 && out > 0, prefix, ": Linear needs positive widths, got ", in, " -> ", out);
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  weight_ = store.add(prefix + ".weight", Shape{out, in}, Init::uniform(bound));
  if (bias) bias_ = store.add(prefix + ".bias", Shape{out}, Init::uniform(bound));
}

Tensor Linear::forward(kernels::Backend& be, const Tensor& x, const Pass&) {
  HPCT_CHECK(x.cols() == in_, describe(), ": input has ", x.cols(), " features");
  x_ = x;
  Shape ys = x.shape;
  ys[ys.rank() - 1] = out_;
  Tensor& y = y_.ensure(be.allocator(), ys, x.dtype);
  if (act_ == kernels::Activation::identity) {
    if (bias_ >= 0)
      be.gemm_bias(x, false, store_.param(weight_), true, store_.param(bias_), y);  // y = x W^T + b
    else
      be.gemm(x, false, store_.param(weight_), true, y);
    return y;
  }
  Tensor& pre = pre_.ensure(be.allocator(), ys, x.dtype);
  if (bias_ >= 0) {
    be.gemm_bias_act(x, false, store_.param(weight_), true, store_.param(bias_), act_, pre, y);
  } else {
    be.gemm(x, false, store_.param(weight_), true, pre);
    be.activation_forward(act_, pre, y);
  }
  return y;
}

// With an activation, dy first becomes the gradient at the pre-activation (and db with it). Then
// dx = dy W;  dW += dy^T x;  db += sum over rows of dy.
Tensor Linear::backward(kernels::Backend& be, const Tensor& dy) {
  Tensor g = dy;
  if (act_ != kernels::Activation::identity) {
    g = dpre_.ensure(be.allocator(), dy.shape, dy.dtype);
    if (bias_ >= 0)
      be.activation_bias_grad(act_, pre_, dy, g, store_.grad(bias_));
    else
      be.activation_backward(act_, pre_, dy, g);
  } else if (bias_ >= 0) {
    be.bias_grad(dy, store_.grad(bias_));
  }
  be.gemm(g, true, x_, false, store_.grad(weight_), 1.0, 1.0);
  Tensor& dx = dx_.ensure(be.allocator(), x_.shape, x_.dtype);
  be.gemm(g, false, store_.param(weight_), false, dx);
  return dx;
}

std::string Linear::describe() const {
  return cat("Linear(", in_, " -> ", out_,
             act_ == kernels::Activation::identity ? "" : cat(", ", kernels::to_string(act_)), ")");
}

}  // namespace hpct::nn
