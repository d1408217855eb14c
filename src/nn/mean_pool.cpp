#include "nn/mean_pool.hpp"

namespace hpct::nn {

Tensor MeanPool::forward(kernels::Backend& be, const Tensor& x, const Pass&, const SequenceMask& mask) {
  HPCT_CHECK(x.rank() == 3, describe(), ": input must be [N, L, D], got ", x.shape.str());
  x_shape_ = x.shape;
  mask_.save(mask, x.dim(0));
  Tensor& y = y_.ensure(be.allocator(), Shape{x.dim(0), x.dim(2)}, x.dtype);
  be.mean_pool_forward(x, mask_.get().lengths, y);
  return y;
}

// dx[n, l, :] = l < len_n ? dy[n, :] / len_n : 0
Tensor MeanPool::backward(kernels::Backend& be, const Tensor& dy) {
  Tensor& dx = dx_.ensure(be.allocator(), x_shape_, dy.dtype);
  be.mean_pool_backward(dy, mask_.get().lengths, dx);
  return dx;
}

}  // namespace hpct::nn
