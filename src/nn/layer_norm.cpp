#include "nn/layer_norm.hpp"

namespace hpct::nn {

LayerNorm::LayerNorm(ParameterStore& store, const std::string& prefix, std::int64_t width, double eps)
    : store_(store), width_(width), eps_(eps) {
  gamma_ = store.add(prefix + ".weight", Shape{width}, Init::constant(1.0));
  beta_ = store.add(prefix + ".bias", Shape{width}, Init::constant(0.0));
}

Tensor LayerNorm::forward(kernels::Backend& be, const Tensor& x, const Pass&) {
  HPCT_CHECK(x.cols() == width_, describe(), ": input has ", x.cols(), " features");
  x_ = x;
  Tensor& y = y_.ensure(be.allocator(), x.shape, x.dtype);
  Tensor& mean = mean_.ensure(be.allocator(), Shape{x.rows()}, x.dtype);
  Tensor& rstd = rstd_.ensure(be.allocator(), Shape{x.rows()}, x.dtype);
  be.layernorm_forward(x, store_.param(gamma_), store_.param(beta_), y, mean, rstd, eps_);
  return y;
}

Tensor LayerNorm::backward(kernels::Backend& be, const Tensor& dy) {
  Tensor& dx = dx_.ensure(be.allocator(), x_.shape, x_.dtype);
  be.layernorm_backward(x_, store_.param(gamma_), mean_, rstd_, dy, dx, store_.grad(gamma_), store_.grad(beta_));
  return dx;
}

}  // namespace hpct::nn
