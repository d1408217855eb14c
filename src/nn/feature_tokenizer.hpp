#pragma once
#include <vector>

#include "nn/index_cache.hpp"
#include "nn/layer.hpp"
#include "params/parameter_store.hpp"

namespace hpct::nn {

// Tabular features to tokens (the FT-Transformer tokenizer): x [N, F] -> y [N, F, D], or [N, F + 1, D]
// with a CLS token prepended at position 0:
//   y[n, f, :] = x[n, f] weight[f, :] + bias[f, :] + feature_embedding[f, :]
// Parameters: <prefix>.weight [F, D], <prefix>.bias [F, D], <prefix>.feature_embedding.weight [F, D]
// (the feature-identity embedding, an nn.Embedding(F, D) looked up at 0 .. F - 1; it adds to the bias,
// so the two always receive the same gradient), and with cls <prefix>.cls_token [D]. All start
// U(-1/sqrt(D), 1/sqrt(D)), the rtdl FT-Transformer initialisation. backward returns dx [N, F].
class FeatureTokenizer final : public Layer {
 public:
  FeatureTokenizer(ParameterStore& store, const std::string& prefix, std::int64_t features, std::int64_t width,
                   bool cls_token);
  Tensor forward(Exec& ex, const Tensor& x, ContextSlot& ctx) override;
  Tensor backward(Exec& ex, const ContextSlot& ctx, const Tensor& dy) override;
  std::string describe() const override;
  std::int64_t tokens() const { return features_ + (cls_ >= 0 ? 1 : 0); }  // L of the output

 private:
  ParameterStore& store_;
  std::int64_t features_, width_;
  ParamId weight_, bias_, feature_embedding_;
  int cls_ = -1;  // ParamId, or -1 without a CLS token
  struct Saved : Context {
    Tensor x;
  };
  // With CLS, per batch size: the gather indices placing the feature tokens (rows 0 .. N F - 1 of
  // the tokens) and the CLS token (row N F) into y, and back.
  IndexCache y_from_tokens_, dtokens_from_dy_, dcls_from_dy_;
};

}  // namespace hpct::nn
