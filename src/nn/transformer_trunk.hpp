#pragma once
#include <functional>
#include <memory>
#include <vector>

#include "nn/cls_pool.hpp"
#include "nn/layer_norm.hpp"
#include "nn/linear.hpp"
#include "nn/mean_pool.hpp"
#include "nn/model_spec.hpp"
#include "nn/transformer_block.hpp"

namespace hpct::nn {

// What the transformer models share after their input embedding, on t [N, L, D]:
//   t = blocks.i(t, mask), i = 0 .. layers-1 (pre-LN TransformerBlock, block i using dropout ids
//       4 i .. 4 i + 3)
//   h = norm(t)
//   per token: y = head(h) [N, L, out];  pooled: y = head(mean over valid positions of h) or
//   head(h[:, 0]) (spec.pooling cls) [N, out]
// Parameters blocks.<i>.*, norm.{weight, bias}, head.{weight, bias}, added to the store in that order.
class TransformerTrunk {
 public:
  TransformerTrunk(ParameterStore& store, const ModelSpec& spec, std::uint64_t seed, bool pooled);
  Tensor forward(Exec& ex, Tensor t, const SequenceMask& mask, ContextSlot& ctx);
  // dL/dy -> dL/dt of the trunk's input, calling ready(offset) each time the gradients of every
  // parameter at flat offset >= offset are final (Model::grads_ready_from).
  Tensor backward(Exec& ex, const ContextSlot& ctx, const Tensor& dy,
                  const std::function<void(std::int64_t)>& ready);
  std::string describe() const;

 private:
  // Declared in construction order: each offset is the store's size just before its layer adds its
  // parameters (the flat offset of its first one).
  std::vector<std::unique_ptr<TransformerBlock>> blocks_;
  std::int64_t norm_offset_;
  LayerNorm norm_;
  std::int64_t head_offset_;
  Linear head_;
  bool pooled_, cls_;
  MeanPool mean_pool_;  // masked by the lengths
  ClsPool cls_pool_;
  struct Saved : Context {
    std::vector<ContextSlot> blocks;
    ContextSlot norm, pool, head;
  };
};

}  // namespace hpct::nn
