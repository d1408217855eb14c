#include "nn/positional_embedding.hpp"

namespace hpct::nn {

PositionalEmbedding::PositionalEmbedding(ParameterStore& store, const std::string& prefix, std::int64_t max_len,
                                         std::int64_t width, double init_std)
    : store_(store), prefix_(prefix), max_len_(max_len), width_(width) {
  HPCT_CHECK(max_len > 0 && width > 0, prefix, ": PositionalEmbedding needs a positive max_len and width, got ",
             max_len, " and ", width);
  weight_ = store.add(prefix + ".weight", Shape{max_len, width}, Init::normal(init_std));
}

Tensor PositionalEmbedding::forward(Exec& ex, const Tensor& x, ContextSlot&) {
  HPCT_CHECK(x.rank() == 3 && x.dim(2) == width_, describe(), ": input must be [N, L, ", width_, "], got ",
             x.shape.str());
  const std::int64_t batch = x.dim(0), len = x.dim(1);
  HPCT_CHECK(len <= max_len_, prefix_, ": sequence length ", len, " exceeds the positional embedding's max_len ",
             max_len_);
  const Tensor y = ex.alloc(x.shape, x.dtype);
  ex.be.copy(y, x);
  ex.be.bias_add(y.view(Shape{batch, len * width_}), store_.param(weight_).flat_range(0, len * width_));
  return y;
}

Tensor PositionalEmbedding::backward(Exec& ex, const ContextSlot&, const Tensor& dy) {
  const std::int64_t batch = dy.dim(0), len = dy.dim(1);
  ex.be.bias_grad(dy.view(Shape{batch, len * width_}), store_.grad(weight_).flat_range(0, len * width_));
  return dy;
}

}  // namespace hpct::nn
