#pragma once
#include <memory>
#include <vector>

#include "nn/cls_pool.hpp"
#include "nn/feature_tokenizer.hpp"
#include "nn/layer_norm.hpp"
#include "nn/linear.hpp"
#include "nn/mean_pool.hpp"
#include "nn/model.hpp"
#include "nn/transformer_block.hpp"

namespace hpct::nn {

// The tabular transformer (FT-Transformer shape) on x [N, F]:
//   t = FeatureTokenizer(x)            [N, F (+1 CLS at position 0 with pooling cls), D]
//   t = blocks.i(t), i = 0 .. layers-1 (pre-LN TransformerBlock, no mask: every feature is present)
//   h = norm(t); p = mean over tokens (pooling mean) or h[:, 0] (pooling cls);  y = head(p) [N, out]
// Parameters: tokenizer.*, blocks.<i>.* (torch TransformerEncoderLayer names), norm.{weight, bias},
// head.{weight, bias}, in that (forward) order.
class TransformerTabular final : public Model {
 public:
  TransformerTabular(const ModelSpec& spec, DType dtype, std::uint64_t seed);
  using Model::forward;
  Tensor forward(kernels::Backend& be, const ModelInput& in, const Pass& pass) override;
  void backward(kernels::Backend& be, const Tensor& doutput) override;
  std::string describe() const override;

 private:
  // Declared in construction order: each offset is the store's size just before its layer adds its
  // parameters (the flat offset of its first one, for grads_ready_from).
  std::int64_t tokenizer_offset_;
  FeatureTokenizer tokenizer_;
  std::vector<std::unique_ptr<TransformerBlock>> blocks_;
  std::int64_t norm_offset_;
  LayerNorm norm_;
  std::int64_t head_offset_;
  Linear head_;
  std::unique_ptr<Layer> pool_;  // MeanPool or ClsPool
};

// Blocks 0 .. layers-1 of a transformer spec under "blocks.<i>", block i using dropout ids
// 4 i .. 4 i + 3 (shared by the transformer models).
std::vector<std::unique_ptr<TransformerBlock>> make_blocks(ParameterStore& store, const ModelSpec& spec,
                                                           std::uint64_t seed);

}  // namespace hpct::nn
