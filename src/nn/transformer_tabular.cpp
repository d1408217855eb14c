#include "nn/transformer_tabular.hpp"

namespace hpct::nn {

TransformerTabular::TransformerTabular(const ModelSpec& spec, DType dtype, std::uint64_t seed)
    : Model(spec, dtype),
      tokenizer_offset_(params_.flat_size()),
      tokenizer_(params_, "tokenizer", spec.in_features, spec.d_model, spec.pooling == "cls"),
      trunk_(params_, spec, seed, /*pooled=*/true) {}

Tensor TransformerTabular::forward(kernels::Backend& be, const ModelInput& in, const Pass& pass) {
  HPCT_CHECK(in.tokens.empty() && in.x.rank() == 2, "transformer-tabular: input must be x [N, F], got ",
             in.tokens.empty() ? in.x.shape.str() : cat("tokens ", in.tokens.shape.str()));
  return trunk_.forward(be, tokenizer_.forward(be, in.x, pass), pass, {});
}

void TransformerTabular::backward(kernels::Backend& be, const Tensor& doutput) {
  const Tensor g = trunk_.backward(be, doutput, [this](std::int64_t offset) { grads_ready_from(offset); });
  tokenizer_.backward(be, g);
  grads_ready_from(tokenizer_offset_);
}

std::string TransformerTabular::describe() const {
  return cat("transformer-tabular: ", tokenizer_.describe(), " ", trunk_.describe());
}

}  // namespace hpct::nn
