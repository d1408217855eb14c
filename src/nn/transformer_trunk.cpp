#include "nn/transformer_trunk.hpp"

#include <cmath>

namespace hpct::nn {
namespace {

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

}  // namespace

TransformerTrunk::TransformerTrunk(ParameterStore& store, const ModelSpec& spec, std::uint64_t seed, bool pooled)
    : blocks_(make_blocks(store, spec, seed)),
      norm_offset_(store.flat_size()),
      norm_(store, "norm", spec.d_model),
      head_offset_(store.flat_size()),
      head_(store, "head", spec.d_model, spec.out_features),
      pooled_(pooled),
      cls_(spec.pooling == "cls") {}

Tensor TransformerTrunk::forward(Exec& ex, Tensor t, const SequenceMask& mask, ContextSlot& ctx) {
  Saved& s = make_context<Saved>(ctx);
  s.blocks.resize(blocks_.size());
  for (std::size_t i = 0; i < blocks_.size(); ++i) t = blocks_[i]->forward(ex, t, mask, s.blocks[i]);
  t = norm_.forward(ex, t, s.norm);
  if (pooled_) t = cls_ ? cls_pool_.forward(ex, t, s.pool) : mean_pool_.forward(ex, t, mask, s.pool);
  return head_.forward(ex, t, s.head);
}

Tensor TransformerTrunk::backward(Exec& ex, const ContextSlot& ctx, const Tensor& dy,
                                  const std::function<void(std::int64_t)>& ready) {
  const Saved& s = context_of<Saved>(ctx);
  Tensor g = head_.backward(ex, s.head, dy);
  ready(head_offset_);
  if (pooled_) g = cls_ ? cls_pool_.backward(ex, s.pool, g) : mean_pool_.backward(ex, s.pool, g);
  g = norm_.backward(ex, s.norm, g);
  ready(norm_offset_);
  for (std::size_t i = blocks_.size(); i-- > 0;) {
    g = blocks_[i]->backward(ex, s.blocks[i], g);
    ready(blocks_[i]->first_offset());
  }
  return g;
}

std::string TransformerTrunk::describe() const {
  std::string s;
  for (const auto& b : blocks_) s.append(b->describe()).append(" ");
  s.append(norm_.describe());
  if (pooled_) s.append(" ").append(cls_ ? cls_pool_.describe() : mean_pool_.describe());
  return s.append(" ").append(head_.describe());
}

}  // namespace hpct::nn
