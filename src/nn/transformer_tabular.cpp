#include "nn/transformer_tabular.hpp"

#include <cmath>

namespace hpct::nn {

std::vector<std::unique_ptr<TransformerBlock>> make_blocks(ParameterStore& store, const ModelSpec& spec,
                                                           std::uint64_t seed) {
  const auto ff = static_cast<std::int64_t>(std::llround(spec.mlp_ratio * static_cast<double>(spec.d_model)));
  const kernels::Activation act = kernels::parse_activation(spec.activation);
  std::vector<std::unique_ptr<TransformerBlock>> blocks;
  for (std::int64_t i = 0; i < spec.layers; ++i)
    blocks.push_back(std::make_unique<TransformerBlock>(
        store, cat("blocks.", i), spec.d_model, spec.heads, ff, spec.dropout, act, seed,
        static_cast<std::uint32_t>(i) * TransformerBlock::kDropoutIds));
  return blocks;
}

TransformerTabular::TransformerTabular(const ModelSpec& spec, DType dtype, std::uint64_t seed)
    : Model(spec, dtype),
      tokenizer_offset_(params_.flat_size()),
      tokenizer_(params_, "tokenizer", spec.in_features, spec.d_model, spec.pooling == "cls"),
      blocks_(make_blocks(params_, spec, seed)),
      norm_offset_(params_.flat_size()),
      norm_(params_, "norm", spec.d_model),
      head_offset_(params_.flat_size()),
      head_(params_, "head", spec.d_model, spec.out_features) {
  if (spec.pooling == "cls")
    pool_ = std::make_unique<ClsPool>();
  else
    pool_ = std::make_unique<MeanPool>();  // no mask: every feature token is present
}

Tensor TransformerTabular::forward(kernels::Backend& be, const ModelInput& in, const Pass& pass) {
  HPCT_CHECK(in.tokens.empty() && in.x.rank() == 2, "transformer-tabular: input must be x [N, F], got ",
             in.tokens.empty() ? in.x.shape.str() : cat("tokens ", in.tokens.shape.str()));
  Tensor t = tokenizer_.forward(be, in.x, pass);
  for (auto& block : blocks_) t = block->forward(be, t, pass, {});
  t = norm_.forward(be, t, pass);
  t = pool_->forward(be, t, pass);
  return head_.forward(be, t, pass);
}

void TransformerTabular::backward(kernels::Backend& be, const Tensor& doutput) {
  Tensor g = head_.backward(be, doutput);
  grads_ready_from(head_offset_);
  g = pool_->backward(be, g);
  g = norm_.backward(be, g);
  grads_ready_from(norm_offset_);
  for (std::size_t i = blocks_.size(); i-- > 0;) {
    g = blocks_[i]->backward(be, g);
    grads_ready_from(blocks_[i]->first_offset());
  }
  tokenizer_.backward(be, g);
  grads_ready_from(tokenizer_offset_);
}

std::string TransformerTabular::describe() const {
  std::string s = cat("transformer-tabular: ", tokenizer_.describe());
  for (const auto& b : blocks_) s.append(" ").append(b->describe());
  return s.append(" ").append(norm_.describe()).append(" ").append(pool_->describe()).append(" ").append(head_.describe());
}

}  // namespace hpct::nn
