#include "nn/multi_head_attention.hpp"

#include <cmath>

namespace hpct::nn {

MultiHeadAttention::MultiHeadAttention(ParameterStore& store, const std::string& prefix, std::int64_t width,
                                       std::int64_t heads, double dropout, std::uint64_t seed,
                                       std::uint32_t dropout_id)
    : store_(store), width_(width), heads_(heads), p_(dropout), seed_(seed), dropout_id_(dropout_id) {
  HPCT_CHECK(width > 0 && heads > 0, prefix, ": MultiHeadAttention needs a positive d_model and heads, got ", width,
             " and ", heads);
  HPCT_CHECK(width % heads == 0, prefix, ": d_model ", width, " is not divisible by heads ", heads);
  HPCT_CHECK(dropout >= 0.0 && dropout < 1.0, prefix, ": attention dropout must be in [0, 1), got ", dropout);
  HPCT_CHECK(dropout_id < (1u << 16), prefix, ": dropout id ", dropout_id, " exceeds 65535");
  const double d = static_cast<double>(width);
  // xavier_uniform on [3D, D]: fan_in D, fan_out 3D.
  in_weight_ =
      store.add(prefix + ".in_proj_weight", Shape{3 * width, width}, Init::uniform(std::sqrt(6.0 / (4.0 * d))));
  in_bias_ = store.add(prefix + ".in_proj_bias", Shape{3 * width}, Init::constant(0.0));
  out_weight_ = store.add(prefix + ".out_proj.weight", Shape{width, width}, Init::uniform(1.0 / std::sqrt(d)));
  out_bias_ = store.add(prefix + ".out_proj.bias", Shape{width}, Init::constant(0.0));
}

std::string MultiHeadAttention::describe() const {
  return cat("MultiHeadAttention(", width_, ", heads=", heads_, p_ > 0 ? cat(", dropout=", p_) : "", ")");
}

Tensor MultiHeadAttention::forward(kernels::Backend& be, const Tensor& x, const Pass& pass, const SequenceMask& mask) {
  HPCT_CHECK(x.rank() == 3 && x.dim(2) == width_, describe(), ": input must be [N, L, ", width_, "], got ",
             x.shape.str());
  x_ = x;
  const std::int64_t batch = x.dim(0), len = x.dim(1);
  mask_.save(mask, batch);
  const SequenceMask m = mask_.get();
  const bool dropout = pass.training && p_ > 0.0;
  args_ = kernels::AttentionArgs{};
  args_.heads = heads_;
  args_.lengths = m.lengths;
  args_.causal = m.causal;
  args_.dropout_p = dropout ? p_ : 0.0;
  args_.seed = seed_;
  args_.stream = (std::uint64_t{1} << 63) | (pass.step << 16) | dropout_id_;
  Tensor& qkv = qkv_.ensure(be.allocator(), Shape{batch, len, 3 * width_}, x.dtype);
  be.gemm_bias(x, false, store_.param(in_weight_), true, store_.param(in_bias_), qkv);
  Tensor& ctx = ctx_.ensure(be.allocator(), x.shape, x.dtype);
  Tensor& probs = probs_.ensure(be.allocator(), Shape{batch, heads_, len, len}, x.dtype);
  be.attention_forward(qkv, ctx, probs, args_);
  Tensor& y = y_.ensure(be.allocator(), x.shape, x.dtype);
  be.gemm_bias(ctx, false, store_.param(out_weight_), true, store_.param(out_bias_), y);
  return y;
}

// dWout += dy^T ctx, dbout += sum dy, dctx = dy Wout; dqkv = attention_backward(dctx);
// dWin += dqkv^T x, dbin += sum dqkv, dx = dqkv Win.
Tensor MultiHeadAttention::backward(kernels::Backend& be, const Tensor& dy) {
  be.gemm(dy, true, ctx_, false, store_.grad(out_weight_), 1.0, 1.0);
  be.bias_grad(dy, store_.grad(out_bias_));
  Tensor& dctx = dctx_.ensure(be.allocator(), x_.shape, x_.dtype);
  be.gemm(dy, false, store_.param(out_weight_), false, dctx);
  Tensor& dqkv = dqkv_.ensure(be.allocator(), qkv_.tensor().shape, x_.dtype);
  be.attention_backward(qkv_, probs_, dctx, dqkv, args_);
  be.gemm(dqkv, true, x_, false, store_.grad(in_weight_), 1.0, 1.0);
  be.bias_grad(dqkv, store_.grad(in_bias_));
  Tensor& dx = dx_.ensure(be.allocator(), x_.shape, x_.dtype);
  be.gemm(dqkv, false, store_.param(in_weight_), false, dx);
  return dx;
}

}  // namespace hpct::nn
