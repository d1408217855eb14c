#pragma once
#include "nn/layer.hpp"
#include "params/parameter_store.hpp"
#include "nn/sequence_mask.hpp"

namespace hpct::nn {

// Multi-head self-attention as torch.nn.MultiheadAttention(D, H, dropout=p, batch_first=True) called
// with query = key = value = x [N, L, D]:
//   qkv = x in_proj_weight^T + in_proj_bias        [N, L, 3D], heads split as torch does
//   ctx = attention(qkv) (kernels::Backend::attention_forward, dropout p on the probabilities)
//   y = ctx out_proj.weight^T + out_proj.bias
// Parameters <prefix>.in_proj_weight [3D, D] (xavier_uniform, as torch), <prefix>.in_proj_bias [3D]
// (zeros), <prefix>.out_proj.weight [D, D] (U(-1/sqrt(D), 1/sqrt(D)), torch's Linear default),
// <prefix>.out_proj.bias [D] (zeros). The key-padding lengths and the causal flag come with forward
// (SequenceMask). The attention dropout mask of step s is Philox stream (1 << 63) | (s << 16) | dropout_id,
// as nn::Dropout's, so dropout ids are one numbering shared with Dropout layers.
class MultiHeadAttention final : public Layer {
 public:
  MultiHeadAttention(ParameterStore& store, const std::string& prefix, std::int64_t width, std::int64_t heads,
                     double dropout, std::uint64_t seed, std::uint32_t dropout_id);
  Tensor forward(Exec& ex, const Tensor& x, ContextSlot& ctx) override { return forward(ex, x, {}, ctx); }
  Tensor forward(Exec& ex, const Tensor& x, const SequenceMask& mask, ContextSlot& ctx);
  Tensor backward(Exec& ex, const ContextSlot& ctx, const Tensor& dy) override;
  std::string describe() const override;

 private:
  ParameterStore& store_;
  std::int64_t width_, heads_;
  double p_;
  std::uint64_t seed_;
  std::uint32_t dropout_id_;
  ParamId in_weight_, in_bias_, out_weight_, out_bias_;
  struct Saved : Context {
    Tensor x, qkv, attn, out;     // input, fused projection, attention's saved state, attention output
    kernels::AttentionArgs args;  // mask and dropout of the forward
  };
};

}  // namespace hpct::nn
