#include "nn/token_embedding.hpp"

namespace hpct::nn {

TokenEmbedding::TokenEmbedding(ParameterStore& store, const std::string& prefix, std::int64_t vocab,
                               std::int64_t width, double init_std)
    : store_(store), vocab_(vocab), width_(width) {
  HPCT_CHECK(vocab > 0 && width > 0, prefix, ": TokenEmbedding needs a positive vocabulary and width, got ", vocab,
             " and ", width);
  weight_ = store.add(prefix + ".weight", Shape{vocab, width}, Init::normal(init_std));
}

Tensor TokenEmbedding::forward(kernels::Backend& be, const Tensor& ids, const Pass&) {
  HPCT_CHECK(ids.rank() < Shape::kMaxDims, describe(), ": ids ", ids.shape.str(), " have too many dimensions");
  ids_ = ids;
  std::vector<std::int64_t> dims = ids.shape.vec();
  dims.push_back(width_);
  Tensor& y = y_.ensure(be.allocator(), Shape(dims), store_.dtype());
  be.embedding_forward(ids, store_.param(weight_), y);
  return y;
}

// dweight[v, :] += sum of dy over the positions holding id v.
Tensor TokenEmbedding::backward(kernels::Backend& be, const Tensor& dy) {
  be.embedding_backward(ids_, dy, store_.grad(weight_));
  return {};
}

}  // namespace hpct::nn
