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

void FeatureTokenizer::build_indices(std::int64_t batch) {
  if (index_batch_ == batch) return;
  const std::int64_t f = features_, l = f + 1;
  y_from_tokens_.resize(static_cast<std::size_t>(batch * l));
  dtokens_from_dy_.resize(static_cast<std::size_t>(batch * f));
  dcls_from_dy_.resize(static_cast<std::size_t>(batch));
  for (std::int64_t n = 0; n < batch; ++n) {
    y_from_tokens_[n * l] = batch * f;  // the CLS row of tokens_
    dcls_from_dy_[n] = n * l;
    for (std::int64_t i = 0; i < f; ++i) {
      y_from_tokens_[n * l + 1 + i] = n * f + i;
      dtokens_from_dy_[n * f + i] = n * l + 1 + i;
    }
  }
  index_batch_ = batch;
}

Tensor FeatureTokenizer::forward(kernels::Backend& be, const Tensor& x, const Pass&) {
  HPCT_CHECK(x.rank() == 2 && x.dim(1) == features_, describe(), ": input must be [N, ", features_, "], got ",
             x.shape.str());
  x_ = x;
  const std::int64_t batch = x.dim(0), f = features_, d = width_;
  Tensor& bias_sum = bias_sum_.ensure(be.allocator(), Shape{f, d}, x.dtype);
  be.copy(bias_sum, store_.param(bias_));
  be.axpy(1.0, store_.param(feature_embedding_), bias_sum);
  if (cls_ < 0) {
    Tensor& y = y_.ensure(be.allocator(), Shape{batch, f, d}, x.dtype);
    be.feature_tokens_forward(x, store_.param(weight_), bias_sum, y);
    return y;
  }
  // Feature tokens into rows 0 .. N F - 1 of tokens_, the CLS token into row N F, then one gather
  // puts every row at its place in y [N, F + 1, D].
  build_indices(batch);
  Tensor& tokens = tokens_.ensure(be.allocator(), Shape{batch * f + 1, d}, x.dtype);
  be.feature_tokens_forward(x, store_.param(weight_), bias_sum, tokens.slice(0, batch * f).view(Shape{batch, f, d}));
  be.copy(tokens.slice(batch * f, batch * f + 1), store_.param(cls_).view(Shape{1, d}));
  Tensor& y = y_.ensure(be.allocator(), Shape{batch, f + 1, d}, x.dtype);
  be.gather_rows(tokens, y_from_tokens_.data(), batch * (f + 1), y.view(Shape{batch * (f + 1), d}));
  return y;
}

// dx[n, f] = dot(dy[n, f], weight[f]); dweight += sum_n x dy; dbias and dfeature_embedding += sum_n dy;
// dcls += sum_n dy[n, 0].
Tensor FeatureTokenizer::backward(kernels::Backend& be, const Tensor& dy) {
  const std::int64_t batch = x_.dim(0), f = features_, d = width_;
  Tensor dtok = dy;
  if (cls_ >= 0) {
    const Tensor rows = dy.view(Shape{batch * (f + 1), d});
    Tensor& dtokens = dtokens_.ensure(be.allocator(), Shape{batch, f, d}, dy.dtype);
    be.gather_rows(rows, dtokens_from_dy_.data(), batch * f, dtokens.view(Shape{batch * f, d}));
    Tensor& dcls_rows = dcls_rows_.ensure(be.allocator(), Shape{batch, d}, dy.dtype);
    be.gather_rows(rows, dcls_from_dy_.data(), batch, dcls_rows);
    be.bias_grad(dcls_rows, store_.grad(cls_));
    dtok = dtokens;
  }
  Tensor& dbias = dbias_.ensure(be.allocator(), Shape{f, d}, dy.dtype);
  be.fill(dbias, 0.0);
  Tensor& dx = dx_.ensure(be.allocator(), x_.shape, x_.dtype);
  be.feature_tokens_backward(x_, store_.param(weight_), dtok, dx, store_.grad(weight_), dbias);
  be.axpy(1.0, dbias, store_.grad(bias_));
  be.axpy(1.0, dbias, store_.grad(feature_embedding_));
  return dx;
}

}  // namespace hpct::nn
