#include "nn/sequence_transformer.hpp"

#include "nn/linear.hpp"
#include "nn/token_embedding.hpp"

namespace hpct::nn {
namespace {

std::unique_ptr<Layer> make_embedding(ParameterStore& store, const ModelSpec& spec) {
  if (spec.vocab_size > 0)
    return std::make_unique<TokenEmbedding>(store, "embed", spec.vocab_size, spec.d_model,
                                            SequenceTransformer::kEmbeddingStd);
  return std::make_unique<Linear>(store, "proj", spec.in_features, spec.d_model);
}

}  // namespace

SequenceTransformer::SequenceTransformer(const ModelSpec& spec, DType dtype, std::uint64_t seed)
    : Model(spec, dtype),
      embed_offset_(params_.flat_size()),
      embed_(make_embedding(params_, spec)),
      pos_offset_(params_.flat_size()),
      pos_(params_, "pos", spec.max_length, spec.d_model, kEmbeddingStd),
      trunk_(params_, spec, seed, /*pooled=*/!spec.per_token()) {}

Tensor SequenceTransformer::forward(Exec& ex, const ModelInput& in, ModelContext& ctx) {
  Saved& s = make_context<Saved>(ctx.root);
  Tensor t;
  if (spec_.vocab_size > 0) {
    HPCT_CHECK(!in.tokens.empty() && in.tokens.rank() == 2, spec_.type, ": input must be tokens [N, L], got ",
               in.tokens.empty() ? cat("x ", in.x.shape.str()) : in.tokens.shape.str());
    t = embed_->forward(ex, in.tokens, s.embed);
  } else {
    HPCT_CHECK(in.tokens.empty() && in.x.rank() == 3, spec_.type, ": input must be x [N, L, ", spec_.in_features,
               "], got ", in.tokens.empty() ? in.x.shape.str() : cat("tokens ", in.tokens.shape.str()));
    t = embed_->forward(ex, in.x, s.embed);
  }
  t = pos_.forward(ex, t, s.pos);
  return trunk_.forward(ex, t, SequenceMask{in.lengths, spec_.causal}, s.trunk);
}

void SequenceTransformer::backward(Exec& ex, const ModelContext& ctx, const Tensor& doutput) {
  const Saved& s = context_of<Saved>(ctx.root);
  Tensor g = trunk_.backward(ex, s.trunk, doutput, [this](std::int64_t offset) { grads_ready_from(offset); });
  g = pos_.backward(ex, s.pos, g);
  grads_ready_from(pos_offset_);
  embed_->backward(ex, s.embed, g);
  grads_ready_from(embed_offset_);
}

std::string SequenceTransformer::describe() const {
  return cat(spec_.type, ": ", embed_->describe(), " ", pos_.describe(), " ", trunk_.describe(),
             spec_.causal ? " (causal)" : "");
}

}  // namespace hpct::nn
