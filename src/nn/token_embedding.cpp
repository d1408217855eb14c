#include "nn/token_embedding.hpp"

namespace hpct::nn {

TokenEmbedding::TokenEmbedding(ParameterStore& store, const std::string& prefix, std::int64_t vocab,
                               std::int64_t width, double init_std)
    : store_(store), vocab_(vocab), width_(width) {
  HPCT_CHECK(vocab > 0 && width > 0, prefix, ": TokenEmbedding needs a positive vocabulary and width, got ", vocab,
             " and ", width);
  weight_ = store.add(prefix + ".weight", Shape{vocab, width}, Init::normal(init_std));
}

Tensor TokenEmbedding::forward(Exec& ex, const Tensor& ids, ContextSlot& ctx) {
  HPCT_CHECK(ids.rank() < Shape::kMaxDims, describe(), ": ids ", ids.shape.str(), " have too many dimensions");
  make_context<Saved>(ctx).ids = ids;
  std::vector<std::int64_t> dims = ids.shape.vec();
  dims.push_back(width_);
  const Tensor y = ex.alloc(Shape(dims), store_.dtype());
  ex.be.embedding_forward(ids, store_.param(weight_), y);
  return y;
}

// dweight[v, :] += sum of dy over the positions holding id v.
Tensor TokenEmbedding::backward(Exec& ex, const ContextSlot& ctx, const Tensor& dy) {
  ex.be.embedding_backward(context_of<Saved>(ctx).ids, dy, store_.grad(weight_));
  return {};
}

}  // namespace hpct::nn
