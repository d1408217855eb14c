#include "nn/sequence_transformer.hpp"

#include "nn/token_embedding.hpp"
#include "nn/transformer_tabular.hpp"

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
      blocks_(make_blocks(params_, spec, seed)),
      norm_offset_(params_.flat_size()),
      norm_(params_, "norm", spec.d_model),
      head_offset_(params_.flat_size()),
      head_(params_, "head", spec.d_model, spec.out_features) {}

Tensor SequenceTransformer::forward(kernels::Backend& be, const ModelInput& in, const Pass& pass) {
  Tensor t;
  if (spec_.vocab_size > 0) {
    HPCT_CHECK(!in.tokens.empty() && in.tokens.rank() == 2, spec_.type, ": input must be tokens [N, L], got ",
               in.tokens.empty() ? cat("x ", in.x.shape.str()) : in.tokens.shape.str());
    t = embed_->forward(be, in.tokens, pass);
  } else {
    HPCT_CHECK(in.tokens.empty() && in.x.rank() == 3, spec_.type, ": input must be x [N, L, ", spec_.in_features,
               "], got ", in.tokens.empty() ? in.x.shape.str() : cat("tokens ", in.tokens.shape.str()));
    t = embed_->forward(be, in.x, pass);
  }
  t = pos_.forward(be, t, pass);
  const SequenceMask mask{in.lengths, spec_.causal};
  for (auto& block : blocks_) t = block->forward(be, t, pass, mask);
  t = norm_.forward(be, t, pass);
  if (!spec_.per_token()) t = spec_.pooling == "cls" ? cls_pool_.forward(be, t, pass) : mean_pool_.forward(be, t, pass, mask);
  return head_.forward(be, t, pass);
}

void SequenceTransformer::backward(kernels::Backend& be, const Tensor& doutput) {
  Tensor g = head_.backward(be, doutput);
  grads_ready_from(head_offset_);
  if (!spec_.per_token()) g = spec_.pooling == "cls" ? cls_pool_.backward(be, g) : mean_pool_.backward(be, g);
  g = norm_.backward(be, g);
  grads_ready_from(norm_offset_);
  for (std::size_t i = blocks_.size(); i-- > 0;) {
    g = blocks_[i]->backward(be, g);
    grads_ready_from(blocks_[i]->first_offset());
  }
  g = pos_.backward(be, g);
  grads_ready_from(pos_offset_);
  embed_->backward(be, g);
  grads_ready_from(embed_offset_);
}

std::string SequenceTransformer::describe() const {
  std::string s = cat(spec_.type, ": ", embed_->describe(), " ", pos_.describe());
  for (const auto& b : blocks_) s.append(" ").append(b->describe());
  s.append(" ").append(norm_.describe());
  if (!spec_.per_token()) s.append(spec_.pooling == "cls" ? " ClsPool" : " MeanPool");
  return s.append(" ").append(head_.describe()).append(spec_.causal ? " (causal)" : "");
}

}  // namespace hpct::nn
