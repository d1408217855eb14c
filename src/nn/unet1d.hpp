#pragma once
#include <memory>
#include <vector>

#include "nn/activation.hpp"
#include "nn/conv1d.hpp"
#include "nn/layer_norm.hpp"
#include "nn/linear.hpp"
#include "nn/model.hpp"

namespace hpct::nn {

// The per-residue U-Net (model type `unet1d`) on x [N, L, F] with lengths, C = spec.channels, K =
// spec.kernel_size (odd), D = spec.layers levels down and up. Level i has length L_i = ceil(L_{i-1} / 2)
// (L_0 = L) and valid positions len_i = ceil(len_{i-1} / 2):
//   h_0  = stem(x)                                    Conv1d(F, C, K, padding (K-1)/2)
//   h_i  = down_i(act(norm_i(h_{i-1})))      i = 1..D Conv1d(C, C, K, stride 2, padding (K-1)/2)
//   u_D  = h_D
//   u_i  = h_i + up_i(act(upnorm_i(u_{i+1})))  i = D-1..0  ConvTranspose1d(C, C, K, stride 2,
//                                                    padding (K-1)/2, output_padding L_i - 2 L_{i+1} + 1)
//   y    = head(act(norm(u_0)))                      LayerNorm(C), act, Linear(C, out) per position
// -> [N, L, out]. The skips add the encoder's h_i to the decoder (as a residual: no concatenation),
// and the output padding (0 or 1, PyTorch's ConvTranspose1d(x, output_size)) brings every level back
// to exactly L_i, so any length works without padding the input to a multiple of 2^D. Every conv is
// masked by its input's valid positions (len_i, from the batch's lengths), so a residue's output
// never depends on padding (an up conv's output at position len_i, when len_i is odd, is garbage
// that no valid output reads). Receptive field about 1 + (K - 1)(1 + 2 (2^D - 1)) residues.
// Parameters, in forward order: stem.*, down.<i>.norm.*, down.<i>.conv.* (i = 0..D-1: level i+1),
// up.<i>.norm.*, up.<i>.conv.* (i = D-1 down to 0: level i+1 -> i), norm.*, head.* (torch names:
// scripts/hpctrain_torch.py's HpctrainUnet1d).
class Unet1d final : public Model {
 public:
  Unet1d(const ModelSpec& spec, DType dtype, std::uint64_t seed);
  using Model::forward;
  Tensor forward(Exec& ex, const ModelInput& in, ModelContext& ctx) override;
  void backward(Exec& ex, const ModelContext& ctx, const Tensor& doutput) override;
  std::string describe() const override;

 private:
  struct Stage {  // a LayerNorm, the activation, a conv
    std::int64_t offset;
    std::unique_ptr<LayerNorm> norm;
    std::unique_ptr<Conv1d> conv;
  };
  struct StageSaved {
    ContextSlot norm, act, conv;
  };
  struct Saved : Context {
    ContextSlot stem, norm, act, head;
    std::vector<StageSaved> down, up;
    std::vector<Tensor> lengths;                 // len_i on the device (empty: all valid)
    std::vector<std::vector<std::int32_t>> host;  // their host copies (alive until the copies ran)
  };
  Tensor stage_forward(Exec& ex, const Stage& st, StageSaved& s, const Tensor& x, const Tensor& lengths,
                       std::int64_t output_padding = 0);
  Tensor stage_backward(Exec& ex, const Stage& st, const StageSaved& s, const Tensor& dy);

  std::int64_t stem_offset_;
  std::unique_ptr<Conv1d> stem_;
  std::vector<Stage> down_, up_;  // up_[i]: level i+1 -> i, registered from i = D-1 down
  std::int64_t norm_offset_;
  std::unique_ptr<LayerNorm> norm_;
  std::unique_ptr<Linear> head_;
  ActivationLayer act_;
};

}  // namespace hpct::nn
