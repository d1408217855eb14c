#pragma once
#include <memory>

#include "nn/dropout.hpp"
#include "nn/layer_norm.hpp"
#include "nn/linear.hpp"
#include "nn/multi_head_attention.hpp"

namespace hpct::nn {

// A pre-LN transformer encoder block, exactly torch.nn.TransformerEncoderLayer(D, H, dim_feedforward=F,
// dropout=p, activation, batch_first=True, norm_first=True) on x [N, L, D]:
//   x1 = x + Dropout(SelfAttention(LayerNorm1(x)))            (attention dropout p inside, as torch)
//   y  = x1 + Dropout(Linear2(Dropout(act(Linear1(LayerNorm2(x1))))))
// Parameters under <prefix>: self_attn.{in_proj_weight, in_proj_bias, out_proj.weight, out_proj.bias},
// linear1.{weight, bias}, linear2.{weight, bias}, norm1.{weight, bias}, norm2.{weight, bias}: the
// torch state_dict names, added in its order. Note torch's activation "gelu" is the exact GELU
// (kernels::Activation::gelu_exact). The block uses kDropoutIds consecutive dropout ids from
// first_dropout_id (attention, after attention, inside the feed-forward, after it).
class TransformerBlock final : public Layer {
 public:
  static constexpr std::uint32_t kDropoutIds = 4;

  TransformerBlock(ParameterStore& store, const std::string& prefix, std::int64_t width, std::int64_t heads,
                   std::int64_t ff_width, double dropout, kernels::Activation activation, std::uint64_t seed,
                   std::uint32_t first_dropout_id, double eps = 1e-5);
  Tensor forward(Exec& ex, const Tensor& x, ContextSlot& ctx) override { return forward(ex, x, {}, ctx); }
  Tensor forward(Exec& ex, const Tensor& x, const SequenceMask& mask, ContextSlot& ctx);
  Tensor backward(Exec& ex, const ContextSlot& ctx, const Tensor& dy) override;
  std::string describe() const override;

  // Flat offset of the block's first parameter: every gradient at offsets >= it is final after this
  // block's backward once the later blocks' are (for Model::grads_ready_from).
  std::int64_t first_offset() const { return first_offset_; }

 private:
  std::int64_t width_, heads_, ff_width_;
  double p_;
  kernels::Activation act_kind_;
  std::int64_t first_offset_;
  MultiHeadAttention self_attn_;
  Linear linear1_, linear2_;  // linear1_ applies the activation
  LayerNorm norm1_, norm2_;
  Dropout dropout1_, dropout_, dropout2_;
  // The sub-layers' contexts, one slot each.
  struct Saved : Context {
    ContextSlot norm1, attn, dropout1, norm2, linear1, dropout, linear2, dropout2;
  };
};

}  // namespace hpct::nn
