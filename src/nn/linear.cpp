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

Tensor Linear::forward(Exec& ex, const Tensor& x, ContextSlot& ctx) {
  HPCT_CHECK(x.cols() == in_, describe(), ": input has ", x.cols(), " features");
  kernels::Backend& be = ex.be;
  Saved& s = make_context<Saved>(ctx);
  s.x = x;
  Shape ys = x.shape;
  ys[ys.rank() - 1] = out_;
  const Tensor y = ex.alloc(ys, x.dtype);
  if (act_ == kernels::Activation::identity) {
    if (bias_ >= 0)
      be.gemm_bias(x, false, store_.param(weight_), true, store_.param(bias_), y);  // y = x W^T + b
    else
      be.gemm(x, false, store_.param(weight_), true, y);
    return y;
  }
  s.pre = ex.alloc(ys, x.dtype);
  if (bias_ >= 0) {
    be.gemm_bias_act(x, false, store_.param(weight_), true, store_.param(bias_), act_, s.pre, y);
  } else {
    be.gemm(x, false, store_.param(weight_), true, s.pre);
    be.activation_forward(act_, s.pre, y);
  }
  return y;
}

// With an activation, dy first becomes the gradient at the pre-activation (and db with it). Then
// dx = dy W;  dW += dy^T x;  db += sum over rows of dy.
Tensor Linear::backward(Exec& ex, const ContextSlot& ctx, const Tensor& dy) {
  kernels::Backend& be = ex.be;
  const Saved& s = context_of<Saved>(ctx);
  Tensor g = dy;
  if (act_ != kernels::Activation::identity) {
    g = ex.alloc(dy.shape, dy.dtype);
    if (bias_ >= 0)
      be.activation_bias_grad(act_, s.pre, dy, g, store_.grad(bias_));
    else
      be.activation_backward(act_, s.pre, dy, g);
  } else if (bias_ >= 0) {
    be.bias_grad(dy, store_.grad(bias_));
  }
  be.gemm(g, true, s.x, false, store_.grad(weight_), 1.0, 1.0);
  const Tensor dx = ex.alloc(s.x.shape, s.x.dtype);
  be.gemm(g, false, store_.param(weight_), false, dx);
  return dx;
}

std::string Linear::describe() const {
  return cat("Linear(", in_, " -> ", out_,
             act_ == kernels::Activation::identity ? "" : cat(", ", kernels::to_string(act_)), ")");
}

}  // namespace hpct::nn
