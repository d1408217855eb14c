#pragma once
#include "nn/feature_tokenizer.hpp"
#include "nn/model.hpp"
#include "nn/transformer_trunk.hpp"

namespace hpct::nn {

// The tabular transformer (FT-Transformer shape) on x [N, F]:
//   t = FeatureTokenizer(x)            [N, F (+1 CLS at position 0 with pooling cls), D]
//   y = TransformerTrunk(t), pooled: mean over tokens (pooling mean) or the CLS token (pooling cls)
//       [N, out]; no mask: every feature is present
// Parameters: tokenizer.*, blocks.<i>.* (torch TransformerEncoderLayer names), norm.{weight, bias},
// head.{weight, bias}, in that (forward) order.
class TransformerTabular final : public Model {
 public:
  TransformerTabular(const ModelSpec& spec, DType dtype, std::uint64_t seed);
  using Model::forward;
  Tensor forward(Exec& ex, const ModelInput& in, ModelContext& ctx) override;
  void backward(Exec& ex, const ModelContext& ctx, const Tensor& doutput) override;
  std::string describe() const override;

 private:
  // Declared in construction order: the offset is the store's size just before the tokenizer adds
  // its parameters (the flat offset of its first one, for grads_ready_from).
  std::int64_t tokenizer_offset_;
  FeatureTokenizer tokenizer_;
  TransformerTrunk trunk_;
  struct Saved : Context {
    ContextSlot tokenizer, trunk;
  };
};

}  // namespace hpct::nn
