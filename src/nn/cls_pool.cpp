#include "nn/cls_pool.hpp"

namespace hpct::nn {
namespace {
// One cache key per batch shape.
std::int64_t shape_key(std::int64_t batch, std::int64_t len) { return batch * (std::int64_t{1} << 32) + len; }
}  // namespace

// Gathers rows n L of x seen as [N L, D].
Tensor ClsPool::forward(Exec& ex, const Tensor& x, ContextSlot& ctx) {
  HPCT_CHECK(x.rank() == 3 && x.dim(1) >= 1, describe(), ": input must be [N, L >= 1, D], got ", x.shape.str());
  const std::int64_t batch = x.dim(0), len = x.dim(1), width = x.dim(2);
  make_context<Saved>(ctx).x_shape = x.shape;
  const Tensor& rows = first_rows_.get(ex.be, shape_key(batch, len), [&](std::vector<std::int64_t>& r) {
    for (std::int64_t n = 0; n < batch; ++n) r.push_back(n * len);
  });
  const Tensor y = ex.alloc(Shape{batch, width}, x.dtype);
  ex.be.gather_rows(x.view(Shape{batch * len, width}), rows, y);
  return y;
}

// dx = rows of [dy; 0]: dy[n] at position 0 of sequence n, zeros elsewhere (one gather).
Tensor ClsPool::backward(Exec& ex, const ContextSlot& ctx, const Tensor& dy) {
  const Shape xs = context_of<Saved>(ctx).x_shape;
  const std::int64_t batch = xs[0], len = xs[1], width = xs[2];
  const Tensor src = ex.alloc(Shape{batch + 1, width}, dy.dtype);
  ex.be.copy(src.slice(0, batch), dy);
  ex.be.fill(src.slice(batch, batch + 1), 0.0);
  // dx row r takes row r / L of [dy; 0] at position 0 of its sequence, the zero row N elsewhere.
  const Tensor& rows = dx_rows_.get(ex.be, shape_key(batch, len), [&](std::vector<std::int64_t>& r) {
    for (std::int64_t i = 0; i < batch * len; ++i) r.push_back(i % len == 0 ? i / len : batch);
  });
  const Tensor dx = ex.alloc(xs, dy.dtype);
  ex.be.gather_rows(src, rows, dx.view(Shape{batch * len, width}));
  return dx;
}

}  // namespace hpct::nn
