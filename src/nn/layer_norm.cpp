#include "nn/layer_norm.hpp"

namespace hpct::nn {

LayerNorm::LayerNorm(ParameterStore& store, const std::string& prefix, std::int64_t width, double eps)
    : store_(store), width_(width), eps_(eps) {
  gamma_ = store.add(prefix + ".weight", Shape{width}, Init::constant(1.0));
  beta_ = store.add(prefix + ".bias", Shape{width}, Init::constant(0.0));
}

Tensor LayerNorm::forward(Exec& ex, const Tensor& x, ContextSlot& ctx) {
  HPCT_CHECK(x.cols() == width_, describe(), ": input has ", x.cols(), " features");
  Saved& s = make_context<Saved>(ctx);
  s.x = x;
  const Tensor y = ex.alloc(x.shape, x.dtype);
  s.mean = ex.alloc(Shape{x.rows()}, kernels::stats_dtype(x.dtype));
  s.rstd = ex.alloc(Shape{x.rows()}, kernels::stats_dtype(x.dtype));
  ex.be.layernorm_forward(x, store_.param(gamma_), store_.param(beta_), y, s.mean, s.rstd, eps_);
  return y;
}

Tensor LayerNorm::backward(Exec& ex, const ContextSlot& ctx, const Tensor& dy) {
  const Saved& s = context_of<Saved>(ctx);
  const Tensor dx = ex.alloc(s.x.shape, s.x.dtype);
  ex.be.layernorm_backward(s.x, store_.param(gamma_), s.mean, s.rstd, dy, dx, store_.grad(gamma_),
                           store_.grad(beta_));
  return dx;
}

}  // namespace hpct::nn
