#include "nn/transformer_block.hpp"

namespace hpct::nn {
namespace {

// The flat offset the next parameter added to the store will get.
std::int64_t next_offset(const ParameterStore& store) { return store.flat_size(); }

}  // namespace

TransformerBlock::TransformerBlock(ParameterStore& store, const std::string& prefix, std::int64_t width,
                                   std::int64_t heads, std::int64_t ff_width, double dropout,
                                   kernels::Activation activation, std::uint64_t seed,
                                   std::uint32_t first_dropout_id, double eps)
    : width_(width), heads_(heads), ff_width_(ff_width), p_(dropout), act_kind_(activation),
      first_offset_(next_offset(store)),
      self_attn_(store, prefix + ".self_attn", width, heads, dropout, seed, first_dropout_id),
      linear1_(store, prefix + ".linear1", width, ff_width, true, activation),
      linear2_(store, prefix + ".linear2", ff_width, width),
      norm1_(store, prefix + ".norm1", width, eps),
      norm2_(store, prefix + ".norm2", width, eps),
      dropout1_(dropout, seed, first_dropout_id + 1),
      dropout_(dropout, seed, first_dropout_id + 2),
      dropout2_(dropout, seed, first_dropout_id + 3) {}

std::string TransformerBlock::describe() const {
  return cat("TransformerBlock(", width_, ", heads=", heads_, ", ff=", ff_width_, ", ", kernels::to_string(act_kind_),
             p_ > 0 ? cat(", dropout=", p_) : "", ")");
}

Tensor TransformerBlock::forward(Exec& ex, const Tensor& x, const SequenceMask& mask, ContextSlot& ctx) {
  kernels::Backend& be = ex.be;
  Saved& s = make_context<Saved>(ctx);
  // x1 = x + Dropout(SelfAttention(LayerNorm1(x)))
  Tensor a = norm1_.forward(ex, x, s.norm1);
  a = self_attn_.forward(ex, a, mask, s.attn);
  a = dropout1_.forward(ex, a, s.dropout1);
  const Tensor x1 = ex.alloc(x.shape, x.dtype);
  be.copy(x1, x);
  be.axpy(1.0, a, x1);
  // y = x1 + Dropout(Linear2(Dropout(act(Linear1(LayerNorm2(x1))))))
  Tensor f = norm2_.forward(ex, x1, s.norm2);
  f = linear1_.forward(ex, f, s.linear1);  // act(Linear1(..)) in one kernel
  f = dropout_.forward(ex, f, s.dropout);
  f = linear2_.forward(ex, f, s.linear2);
  f = dropout2_.forward(ex, f, s.dropout2);
  const Tensor y = ex.alloc(x.shape, x.dtype);
  be.copy(y, x1);
  be.axpy(1.0, f, y);
  return y;
}

// dx1 = dy + (feed-forward path)^T dy; dx = dx1 + (attention path)^T dx1. The residual gradients are
// added in place into the layer norms' dx, which nothing reads afterwards.
Tensor TransformerBlock::backward(Exec& ex, const ContextSlot& ctx, const Tensor& dy) {
  kernels::Backend& be = ex.be;
  const Saved& s = context_of<Saved>(ctx);
  Tensor g = dropout2_.backward(ex, s.dropout2, dy);
  g = linear2_.backward(ex, s.linear2, g);
  g = dropout_.backward(ex, s.dropout, g);
  g = linear1_.backward(ex, s.linear1, g);
  const Tensor dx1 = norm2_.backward(ex, s.norm2, g);
  be.axpy(1.0, dy, dx1);
  Tensor h = dropout1_.backward(ex, s.dropout1, dx1);
  h = self_attn_.backward(ex, s.attn, h);
  const Tensor dx = norm1_.backward(ex, s.norm1, h);
  be.axpy(1.0, dx1, dx);
  return dx;
}

}  // namespace hpct::nn
