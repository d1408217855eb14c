#include "nn/transformer_tabular.hpp"

namespace hpct::nn {

TransformerTabular::TransformerTabular(const ModelSpec& spec, DType dtype, std::uint64_t seed)
    : Model(spec, dtype),
      tokenizer_offset_(params_.flat_size()),
      tokenizer_(params_, "tokenizer", spec.in_features, spec.d_model, spec.pooling == "cls"),
      trunk_(params_, spec, seed, /*pooled=*/true) {}

Tensor TransformerTabular::forward(Exec& ex, const ModelInput& in, ModelContext& ctx) {
  HPCT_CHECK(in.tokens.empty() && in.x.rank() == 2, "transformer-tabular: input must be x [N, F], got ",
             in.tokens.empty() ? in.x.shape.str() : cat("tokens ", in.tokens.shape.str()));
  Saved& s = make_context<Saved>(ctx.root);
  return trunk_.forward(ex, tokenizer_.forward(ex, in.x, s.tokenizer), {}, s.trunk);
}

void TransformerTabular::backward(Exec& ex, const ModelContext& ctx, const Tensor& doutput) {
  const Saved& s = context_of<Saved>(ctx.root);
  const Tensor g = trunk_.backward(ex, s.trunk, doutput, [this](std::int64_t offset) { grads_ready_from(offset); });
  tokenizer_.backward(ex, s.tokenizer, g);
  grads_ready_from(tokenizer_offset_);
}

std::string TransformerTabular::describe() const {
  return cat("transformer-tabular: ", tokenizer_.describe(), " ", trunk_.describe());
}

}  // namespace hpct::nn
