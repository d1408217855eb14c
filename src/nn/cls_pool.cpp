#include "nn/cls_pool.hpp"

namespace hpct::nn {

// Gathers rows n L of x seen as [N L, D].
Tensor ClsPool::forward(kernels::Backend& be, const Tensor& x, const Pass&) {
  HPCT_CHECK(x.rank() == 3 && x.dim(1) >= 1, describe(), ": input must be [N, L >= 1, D], got ", x.shape.str());
  const std::int64_t batch = x.dim(0), len = x.dim(1), width = x.dim(2);
  if (!(x_shape_ == x.shape)) {
    first_rows_.resize(static_cast<std::size_t>(batch));
    dx_rows_.resize(static_cast<std::size_t>(batch * len));
    for (std::int64_t n = 0; n < batch; ++n) first_rows_[n] = n * len;
    // dx row r takes row r / L of [dy; 0] at position 0 of its sequence, the zero row N elsewhere.
    for (std::int64_t r = 0; r < batch * len; ++r) dx_rows_[r] = r % len == 0 ? r / len : batch;
  }
  x_shape_ = x.shape;
  Tensor& y = y_.ensure(be.allocator(), Shape{batch, width}, x.dtype);
  be.gather_rows(x.view(Shape{batch * len, width}), first_rows_.data(), batch, y);
  return y;
}

// dx = rows of [dy; 0]: dy[n] at position 0 of sequence n, zeros elsewhere (one gather).
Tensor ClsPool::backward(kernels::Backend& be, const Tensor& dy) {
  const std::int64_t batch = x_shape_[0], len = x_shape_[1], width = x_shape_[2];
  Tensor& src = dy_and_zero_.ensure(be.allocator(), Shape{batch + 1, width}, dy.dtype);
  be.copy(src.slice(0, batch), dy);
  be.fill(src.slice(batch, batch + 1), 0.0);
  Tensor& dx = dx_.ensure(be.allocator(), x_shape_, dy.dtype);
  be.gather_rows(src, dx_rows_.data(), batch * len, dx.view(Shape{batch * len, width}));
  return dx;
}

}  // namespace hpct::nn
