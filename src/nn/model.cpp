#include "nn/model.hpp"

#include "nn/mlp.hpp"

namespace hpct::nn {

std::unique_ptr<Model> build_model(const ModelSpec& spec, kernels::Backend& be, std::uint64_t seed, DType dtype) {
  HPCT_CHECK(spec.in_features > 0, "model: the data has no features");
  HPCT_CHECK(spec.out_features > 0, "model: output width must be positive, got ", spec.out_features);
  for (std::int64_t w : spec.widths)
    HPCT_CHECK(w > 0, "option model.widths: widths must be positive, got ", w);
  HPCT_CHECK(spec.dropout >= 0.0 && spec.dropout < 1.0, "option model.dropout: must be in [0, 1), got ",
             spec.dropout);
  kernels::parse_activation(spec.activation);  // throws naming a bad value
  std::unique_ptr<Model> model;
  if (spec.type == "mlp") {
    model = std::make_unique<Mlp>(spec, dtype, seed);
  } else {
    fail("option model.type: unknown model type '", spec.type, "' (valid: mlp)");
  }
  model->params().finalize(be, seed);
  return model;
}

}  // namespace hpct::nn
