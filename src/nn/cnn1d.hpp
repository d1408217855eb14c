#pragma once
#include <memory>
#include <vector>

#include "nn/activation.hpp"
#include "nn/conv1d.hpp"
#include "nn/layer_norm.hpp"
#include "nn/linear.hpp"
#include "nn/model.hpp"

namespace hpct::nn {

// The per-residue CNN (model type `cnn1d`) on x [N, L, F] with lengths, C = spec.channels, K =
// spec.kernel_size (odd), d_i = spec.dilations[i mod size] for block i < spec.layers:
//   h = stem(x)                                   Conv1d(F, C, K, padding (K-1)/2)
//   h = h + conv_i(act(norm_i(h)))                pre-LN residual blocks: LayerNorm(C), act,
//                                                 Conv1d(C, C, K, dilation d_i, padding d_i (K-1)/2)
//   y = head(act(norm(h)))                        LayerNorm(C), act, Linear(C, out) per position
// -> [N, L, out]. Every conv is masked by the lengths (positions >= length contribute nothing), so a
// residue's output depends on valid residues only; outputs at padded positions are not read by the
// masked losses. Receptive field: 1 + (K - 1) (1 + sum_i d_i).
// Parameters, in forward order: stem.{weight, bias}, blocks.<i>.norm.{weight, bias},
// blocks.<i>.conv.{weight, bias}, norm.{weight, bias}, head.{weight, bias} (torch names: see
// tests/reference/hpctrain_torch.py).
class Cnn1d final : public Model {
 public:
  Cnn1d(const ModelSpec& spec, DType dtype, std::uint64_t seed);
  using Model::forward;
  Tensor forward(Exec& ex, const ModelInput& in, ModelContext& ctx) override;
  void backward(Exec& ex, const ModelContext& ctx, const Tensor& doutput) override;
  std::string describe() const override;

 private:
  struct Block {
    std::int64_t offset;
    std::unique_ptr<LayerNorm> norm;
    std::unique_ptr<Conv1d> conv;
  };
  std::int64_t stem_offset_;
  std::unique_ptr<Conv1d> stem_;
  std::vector<Block> blocks_;
  std::int64_t norm_offset_;
  std::unique_ptr<LayerNorm> norm_;
  std::unique_ptr<Linear> head_;
  ActivationLayer act_;
  struct BlockSaved {
    ContextSlot norm, act, conv;
  };
  struct Saved : Context {
    ContextSlot stem, norm, act, head;
    std::vector<BlockSaved> blocks;
  };
};

}  // namespace hpct::nn
