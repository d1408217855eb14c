#include "nn/dropout.hpp"

namespace hpct::nn {

Dropout::Dropout(double p, std::uint64_t seed, std::uint32_t layer_id) : p_(p), seed_(seed), layer_id_(layer_id) {
  HPCT_CHECK(p >= 0.0 && p < 1.0, "dropout probability must be in [0, 1), got ", p);
  HPCT_CHECK(layer_id < (1u << 16), "too many dropout layers");
}

Tensor Dropout::forward(Exec& ex, const Tensor& x, ContextSlot& ctx) {
  Saved& s = make_context<Saved>(ctx);
  s.applied = ex.pass.training && p_ > 0.0;
  if (!s.applied) return x;
  s.step = ex.pass.step;
  s.row_ids = ex.pass.row_ids;
  const Tensor y = ex.alloc(x.shape, x.dtype);
  ex.be.dropout_forward(x, y, p_, seed_, stream(s.step), s.row_ids);
  return y;
}

Tensor Dropout::backward(Exec& ex, const ContextSlot& ctx, const Tensor& dy) {
  const Saved& s = context_of<Saved>(ctx);
  if (!s.applied) return dy;
  const Tensor dx = ex.alloc(dy.shape, dy.dtype);
  ex.be.dropout_backward(dy, dx, p_, seed_, stream(s.step), s.row_ids);
  return dx;
}

std::string Dropout::describe() const { return cat("Dropout(p=", p_, ")"); }

}  // namespace hpct::nn
