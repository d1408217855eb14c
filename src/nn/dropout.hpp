#pragma once
#include "nn/layer.hpp"

namespace hpct::nn {

// Inverted dropout. The mask of step s is a pure function of (seed, s, layer id) through Philox, and
// of each row's data-set row id when the pass has them (Pass::row_ids), so it is identical on every
// backend, thread count and rank layout, and needs no generator state in checkpoints.
// Evaluation passes x through unchanged.
class Dropout final : public Layer {
 public:
  Dropout(double p, std::uint64_t seed, std::uint32_t layer_id);
  Tensor forward(Exec& ex, const Tensor& x, ContextSlot& ctx) override;
  Tensor backward(Exec& ex, const ContextSlot& ctx, const Tensor& dy) override;
  std::string describe() const override;

 private:
  // Bit 63 keeps dropout streams apart from the parameter-initialisation streams (0, 1, 2, ...).
  std::uint64_t stream(std::uint64_t step) const { return (std::uint64_t{1} << 63) | (step << 16) | layer_id_; }
  double p_;
  std::uint64_t seed_;
  std::uint32_t layer_id_;
  struct Saved : Context {
    bool applied = false;  // whether the forward dropped anything
    std::uint64_t step = 0;
    Tensor row_ids;  // the forward's Pass::row_ids
  };
};

}  // namespace hpct::nn
