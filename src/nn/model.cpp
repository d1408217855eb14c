#include "nn/model.hpp"

#include <cmath>

#include "nn/cnn1d.hpp"
#include "nn/mlp.hpp"
#include "nn/sequence_transformer.hpp"
#include "nn/ssvae.hpp"
#include "nn/transformer_tabular.hpp"
#include "nn/unet1d.hpp"

namespace hpct::nn {
namespace {

// The transformer options, each error naming the option and its value.
void check_transformer_spec(const ModelSpec& spec) {
  HPCT_CHECK(spec.d_model > 0, "option model.d-model: must be positive, got ", spec.d_model);
  HPCT_CHECK(spec.heads > 0, "option model.heads: must be positive, got ", spec.heads);
  HPCT_CHECK(spec.d_model % spec.heads == 0, "option model.d-model: ", spec.d_model,
             " is not divisible by option model.heads ", spec.heads, " (each head gets d_model / heads columns)");
  HPCT_CHECK(spec.layers > 0, "option model.layers: must be positive, got ", spec.layers);
  HPCT_CHECK(spec.mlp_ratio > 0 && std::llround(spec.mlp_ratio * static_cast<double>(spec.d_model)) >= 1,
             "option model.mlp-ratio: must give a feed-forward width >= 1 (ratio x d_model), got ", spec.mlp_ratio);
  HPCT_CHECK(spec.pooling == "mean" || spec.pooling == "cls", "option model.pooling: unknown pooling '", spec.pooling,
             "' (valid: mean, cls)");
  HPCT_CHECK(spec.target_level == "sequence" || spec.target_level == "token", "model: unknown target level '",
             spec.target_level, "' (valid: sequence, token)");
  if (spec.type == "transformer-tabular") {
    HPCT_CHECK(spec.in_features > 0, "model transformer-tabular: the data has no features");
    HPCT_CHECK(!spec.per_token() && !spec.causal, "model transformer-tabular: takes tabular rows (one output per row)");
    return;
  }
  HPCT_CHECK(spec.max_length > 0, "option model.max-length: must be positive, got ", spec.max_length);
  // Under causal attention position 0 attends to itself alone, so its output would see one token.
  HPCT_CHECK(!(spec.causal && !spec.per_token() && spec.pooling == "cls"), "option model.pooling cls with ",
             "model.causal: position 0 attends only to itself under causal attention; pool with mean");
  HPCT_CHECK(spec.vocab_size > 0 || spec.in_features > 0, "model ", spec.type,
             ": needs token ids (vocab_size > 0) or per-position features");
  if (spec.type == "lm")
    HPCT_CHECK(spec.vocab_size == 256 && spec.out_features == 256 && spec.per_token() && spec.causal,
               "model lm: is a causal byte-level model (vocab 256, 256 outputs per token), got vocab_size ",
               spec.vocab_size, ", ", spec.out_features, " outputs, target level ", spec.target_level);
}

}  // namespace

void Model::forward_objective(Exec&, const ModelInput&, const Tensor&, const kernels::LossArgs&, const Tensor&,
                              ModelContext&) {
  fail("model ", spec_.type, ": has no objective of its own (it trains with a loss of its output)");
}

std::unique_ptr<Model> build_model(const ModelSpec& spec, kernels::Backend& be, std::uint64_t seed, DType dtype) {
  HPCT_CHECK(spec.out_features > 0, "model: output width must be positive, got ", spec.out_features);
  HPCT_CHECK(spec.dropout >= 0.0 && spec.dropout < 1.0, "option model.dropout: must be in [0, 1), got ",
             spec.dropout);
  kernels::parse_activation(spec.activation);  // throws naming a bad value
  std::unique_ptr<Model> model;
  if (spec.type == "mlp") {
    HPCT_CHECK(spec.in_features > 0, "model: the data has no features");
    for (std::int64_t w : spec.widths)
      HPCT_CHECK(w > 0, "option model.widths: widths must be positive, got ", w);
    model = std::make_unique<Mlp>(spec, dtype, seed);
  } else if (spec.type == "transformer-tabular") {
    check_transformer_spec(spec);
    model = std::make_unique<TransformerTabular>(spec, dtype, seed);
  } else if (spec.type == "transformer" || spec.type == "lm") {
    check_transformer_spec(spec);
    model = std::make_unique<SequenceTransformer>(spec, dtype, seed);
  } else if (spec.is_conv()) {
    HPCT_CHECK(spec.in_features > 0, "model ", spec.type, ": takes per-position features x [N, L, F] (convert ",
               "--fasta), not token ids");
    HPCT_CHECK(spec.per_token(), "model ", spec.type, ": predicts per position; the data has per-row targets");
    HPCT_CHECK(spec.channels > 0, "option model.channels: must be positive, got ", spec.channels);
    HPCT_CHECK(spec.kernel_size > 0 && spec.kernel_size % 2 == 1, "option model.kernel-size: must be odd and ",
               "positive (same padding), got ", spec.kernel_size);
    HPCT_CHECK(spec.layers >= 0, "option model.layers: must be >= 0, got ", spec.layers);
    HPCT_CHECK(!spec.dilations.empty(), "option model.dilations: needs at least one dilation");
    for (std::int64_t d : spec.dilations) HPCT_CHECK(d > 0, "option model.dilations: must be positive, got ", d);
    if (spec.type == "cnn1d") model = std::make_unique<Cnn1d>(spec, dtype, seed);
    else model = std::make_unique<Unet1d>(spec, dtype, seed);
  } else if (spec.type == "ssvae") {
    HPCT_CHECK(spec.in_features > 0, "model ssvae: the data has no features");
    HPCT_CHECK(spec.task == "classification" && spec.loss == "ce", "model ssvae: needs class labels (task ",
               "classification, loss ce), got task ", spec.task, " and loss ", spec.loss);
    for (std::int64_t w : spec.widths)
      HPCT_CHECK(w > 0, "option model.widths: widths must be positive, got ", w);
    HPCT_CHECK(spec.latent > 0, "option model.latent: must be positive, got ", spec.latent);
    HPCT_CHECK(spec.recon == "bernoulli" || spec.recon == "gaussian", "option model.recon: unknown reconstruction '",
               spec.recon, "' (valid: bernoulli, gaussian)");
    HPCT_CHECK(spec.alpha >= 0.0 && std::isfinite(spec.alpha), "option model.alpha: must be finite and >= 0, got ",
               spec.alpha);
    HPCT_CHECK(dtype == DType::f32 || dtype == DType::f64, "option precision: model ssvae trains in fp32 only, got ",
               name_of(dtype));
    model = std::make_unique<Ssvae>(spec, dtype, seed);
  } else {
    fail("option model.type: unknown model type '", spec.type,
         "' (valid: mlp, transformer-tabular, transformer, lm, cnn1d, unet1d, ssvae)");
  }
  model->params().finalize(be, seed);
  return model;
}

}  // namespace hpct::nn
