#include "nn/mean_pool.hpp"

namespace hpct::nn {

Tensor MeanPool::forward(Exec& ex, const Tensor& x, const SequenceMask& mask, ContextSlot& ctx) {
  HPCT_CHECK(x.rank() == 3, describe(), ": input must be [N, L, D], got ", x.shape.str());
  Saved& s = make_context<Saved>(ctx);
  s.x_shape = x.shape;
  s.lengths = mask.lengths;
  const Tensor y = ex.alloc(Shape{x.dim(0), x.dim(2)}, x.dtype);
  ex.be.mean_pool_forward(x, s.lengths, y);
  return y;
}

// dx[n, l, :] = l < len_n ? dy[n, :] / len_n : 0
Tensor MeanPool::backward(Exec& ex, const ContextSlot& ctx, const Tensor& dy) {
  const Saved& s = context_of<Saved>(ctx);
  const Tensor dx = ex.alloc(s.x_shape, dy.dtype);
  ex.be.mean_pool_backward(dy, s.lengths, dx);
  return dx;
}

}  // namespace hpct::nn
