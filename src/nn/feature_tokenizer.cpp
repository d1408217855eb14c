#include "nn/feature_tokenizer.hpp"

#include <cmath>

namespace hpct::nn {

FeatureTokenizer::FeatureTokenizer(ParameterStore& store, const std::string& prefix, std::int64_t features,
                                   std::int64_t width, bool cls_token)
    : store_(store), features_(features), width_(width) {
  HPCT_CHECK(features > 0 && width > 0, prefix, ": FeatureTokenizer needs positive features and width, got ",
             features, " and ", width);
  const Init init = Init::uniform(1.0 / std::sqrt(static_cast<double>(width)));
  weight_ = store.add(prefix + ".weight", Shape{features, width}, init);
  bias_ = store.add(prefix + ".bias", Shape{features, width}, init);
  feature_embedding_ = store.add(prefix + ".feature_embedding.weight", Shape{features, width}, init);
  if (cls_token) cls_ = store.add(prefix + ".cls_token", Shape{width}, init);
}

std::string FeatureTokenizer::describe() const {
  return cat("FeatureTokenizer(", features_, " -> ", width_, cls_ >= 0 ? ", cls" : "", ")");
}

Tensor FeatureTokenizer::forward(Exec& ex, const Tensor& x, ContextSlot& ctx) {
  HPCT_CHECK(x.rank() == 2 && x.dim(1) == features_, describe(), ": input must be [N, ", features_, "], got ",
             x.shape.str());
  kernels::Backend& be = ex.be;
  make_context<Saved>(ctx).x = x;
  const std::int64_t batch = x.dim(0), f = features_, d = width_;
  const Tensor bias_sum = ex.alloc(Shape{f, d}, x.dtype);
  be.copy(bias_sum, store_.param(bias_));
  be.axpy(1.0, store_.param(feature_embedding_), bias_sum);
  if (cls_ < 0) {
    const Tensor y = ex.alloc(Shape{batch, f, d}, x.dtype);
    be.feature_tokens_forward(x, store_.param(weight_), bias_sum, y);
    return y;
  }
  // Feature tokens into rows 0 .. N F - 1 of tokens, the CLS token into row N F, then one gather
  // puts every row at its place in y [N, F + 1, D].
  const Tensor tokens = ex.alloc(Shape{batch * f + 1, d}, x.dtype);
  be.feature_tokens_forward(x, store_.param(weight_), bias_sum, tokens.slice(0, batch * f).view(Shape{batch, f, d}));
  be.copy(tokens.slice(batch * f, batch * f + 1), store_.param(cls_).view(Shape{1, d}));
  const Tensor& index = y_from_tokens_.get(be, batch, [&](std::vector<std::int64_t>& r) {
    for (std::int64_t n = 0; n < batch; ++n) {
      r.push_back(batch * f);  // the CLS row
      for (std::int64_t i = 0; i < f; ++i) r.push_back(n * f + i);
    }
  });
  const Tensor y = ex.alloc(Shape{batch, f + 1, d}, x.dtype);
  be.gather_rows(tokens, index, y.view(Shape{batch * (f + 1), d}));
  return y;
}

// dx[n, f] = dot(dy[n, f], weight[f]); dweight += sum_n x dy; dbias and dfeature_embedding += sum_n dy;
// dcls += sum_n dy[n, 0].
Tensor FeatureTokenizer::backward(Exec& ex, const ContextSlot& ctx, const Tensor& dy) {
  kernels::Backend& be = ex.be;
  const Tensor& x = context_of<Saved>(ctx).x;
  const std::int64_t batch = x.dim(0), f = features_, d = width_, l = f + 1;
  Tensor dtok = dy;
  if (cls_ >= 0) {
    const Tensor rows = dy.view(Shape{batch * l, d});
    const Tensor& token_rows = dtokens_from_dy_.get(be, batch, [&](std::vector<std::int64_t>& r) {
      for (std::int64_t n = 0; n < batch; ++n)
        for (std::int64_t i = 0; i < f; ++i) r.push_back(n * l + 1 + i);
    });
    const Tensor& cls_rows = dcls_from_dy_.get(be, batch, [&](std::vector<std::int64_t>& r) {
      for (std::int64_t n = 0; n < batch; ++n) r.push_back(n * l);
    });
    const Tensor dtokens = ex.alloc(Shape{batch, f, d}, dy.dtype);
    be.gather_rows(rows, token_rows, dtokens.view(Shape{batch * f, d}));
    const Tensor dcls = ex.alloc(Shape{batch, d}, dy.dtype);
    be.gather_rows(rows, cls_rows, dcls);
    be.bias_grad(dcls, store_.grad(cls_));
    dtok = dtokens;
  }
  const Tensor dbias = ex.alloc(Shape{f, d}, dy.dtype);
  be.fill(dbias, 0.0);
  const Tensor dx = ex.alloc(x.shape, x.dtype);
  be.feature_tokens_backward(x, store_.param(weight_), dtok, dx, store_.grad(weight_), dbias);
  be.axpy(1.0, dbias, store_.grad(bias_));
  be.axpy(1.0, dbias, store_.grad(feature_embedding_));
  return dx;
}

}  // namespace hpct::nn
