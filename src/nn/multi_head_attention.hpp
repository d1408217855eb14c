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
  Tensor forward(kernels::Backend& be, const Tensor& x, const Pass& pass) override { return forward(be, x, pass, {}); }
  Tensor forward(kernels::Backend& be, const Tensor& x, const Pass& pass, const SequenceMask& mask);
  Tensor backward(kernels::Backend& be, const Tensor& dy) override;
  std::string describe() const override;

 private:
  ParameterStore& store_;
  std::int64_t width_, heads_;
  double p_;
  std::uint64_t seed_;
  std::uint32_t dropout_id_;
  ParamId in_weight_, in_bias_, out_weight_, out_bias_;
  Tensor x_;
  SavedMask mask_;
  kernels::AttentionArgs args_;  // of the last forward (its lengths point into mask_)
  Buffer qkv_, probs_, ctx_, y_, dctx_, dqkv_, dx_;
};

}  // namespace hpct::nn
