#pragma once
#include <memory>

#include "nn/model.hpp"
#include "nn/positional_embedding.hpp"
#include "nn/transformer_trunk.hpp"

namespace hpct::nn {

// The sequence transformer (model types `transformer` and `lm`) on sequences of N x L positions with
// their lengths:
//   t = embed(tokens) [N, L, D]  (TokenEmbedding(vocab_size, D))  or  t = proj(x [N, L, F]) (Linear(F, D))
//   t = pos(t)                   (learned positions 0 .. L-1 of max_length)
//   y = TransformerTrunk(t, mask)  (key padding from the lengths; causal attention when spec.causal)
//     target_level token:    per token [N, L, out] (padding rows too)
//     target_level sequence: pooled [N, out], mean over valid positions or position 0 (pooling cls)
// `lm` is this model with tokens, vocab 256, causal attention and a token-level head of 256 logits (not
// tied to the embedding), trained with next-byte cross-entropy. Embeddings start N(0, 0.02^2) (GPT-2).
// Parameters, in forward order: embed.weight [V, D] or proj.{weight, bias}, pos.weight [max_length, D],
// blocks.<i>.* (torch TransformerEncoderLayer names), norm.{weight, bias}, head.{weight, bias}.
class SequenceTransformer final : public Model {
 public:
  static constexpr double kEmbeddingStd = 0.02;

  SequenceTransformer(const ModelSpec& spec, DType dtype, std::uint64_t seed);
  using Model::forward;
  Tensor forward(Exec& ex, const ModelInput& in, ModelContext& ctx) override;
  void backward(Exec& ex, const ModelContext& ctx, const Tensor& doutput) override;
  std::string describe() const override;

 private:
  // Declared in construction order (see TransformerTabular).
  std::int64_t embed_offset_;
  std::unique_ptr<Layer> embed_;  // TokenEmbedding or Linear
  std::int64_t pos_offset_;
  PositionalEmbedding pos_;
  TransformerTrunk trunk_;
  struct Saved : Context {
    ContextSlot embed, pos, trunk;
  };
};

}  // namespace hpct::nn
