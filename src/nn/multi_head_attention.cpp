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

Tensor MultiHeadAttention::forward(Exec& ex, const Tensor& x, const SequenceMask& mask, ContextSlot& ctx) {
  HPCT_CHECK(x.rank() == 3 && x.dim(2) == width_, describe(), ": input must be [N, L, ", width_, "], got ",
             x.shape.str());
  kernels::Backend& be = ex.be;
  Saved& s = make_context<Saved>(ctx);
  s.x = x;
  const std::int64_t batch = x.dim(0), len = x.dim(1);
  const bool dropout = ex.pass.training && p_ > 0.0;
  s.args = kernels::AttentionArgs{};
  s.args.heads = heads_;
  s.args.lengths = mask.lengths;
  s.args.causal = mask.causal;
  s.args.dropout_p = dropout ? p_ : 0.0;
  s.args.seed = seed_;
  s.args.stream = (std::uint64_t{1} << 63) | (ex.pass.step << 16) | dropout_id_;
  s.args.row_ids = ex.pass.row_ids;
  s.qkv = ex.alloc(Shape{batch, len, 3 * width_}, x.dtype);
  be.gemm_bias(x, false, store_.param(in_weight_), true, store_.param(in_bias_), s.qkv);
  s.out = ex.alloc(x.shape, x.dtype);
  s.attn = ex.alloc(be.attention_saved_shape(s.qkv.shape, x.dtype, s.args),
                    be.attention_saved_dtype(s.qkv.shape, x.dtype, s.args));
  be.attention_forward(s.qkv, s.out, s.attn, s.args);
  const Tensor y = ex.alloc(x.shape, x.dtype);
  be.gemm_bias(s.out, false, store_.param(out_weight_), true, store_.param(out_bias_), y);
  return y;
}

// dWout += dy^T out, dbout += sum dy, dout = dy Wout; dqkv = attention_backward(dout);
// dWin += dqkv^T x, dbin += sum dqkv, dx = dqkv Win.
Tensor MultiHeadAttention::backward(Exec& ex, const ContextSlot& ctx, const Tensor& dy) {
  kernels::Backend& be = ex.be;
  const Saved& s = context_of<Saved>(ctx);
  be.gemm(dy, true, s.out, false, store_.grad(out_weight_), 1.0, 1.0);
  be.bias_grad(dy, store_.grad(out_bias_));
  const Tensor dout = ex.alloc(s.x.shape, s.x.dtype);
  be.gemm(dy, false, store_.param(out_weight_), false, dout);
  const Tensor dqkv = ex.alloc(s.qkv.shape, s.x.dtype);
  be.attention_backward(s.qkv, s.out, s.attn, dout, dqkv, s.args);
  be.gemm(dqkv, true, s.x, false, store_.grad(in_weight_), 1.0, 1.0);
  be.bias_grad(dqkv, store_.grad(in_bias_));
  const Tensor dx = ex.alloc(s.x.shape, s.x.dtype);
  be.gemm(dqkv, false, store_.param(in_weight_), false, dx);
  return dx;
}

}  // namespace hpct::nn
