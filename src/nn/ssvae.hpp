#pragma once
#include "nn/model.hpp"

namespace hpct::nn {

// The semi-supervised VAE "M2" of Kingma, Rezende, Mohamed and Welling (2014), three MLPs (hidden
// widths model.widths, activation model.activation):
//   classifier q(y|x):   x [F]            -> logits [C]
//   encoder  q(z|x,y):   [x, onehot(y)]   -> (mu, log-variance) [2K]      (K = model.latent)
//   decoder  p(x|y,z):   [z, onehot(y)]   -> reconstruction [F] (Bernoulli logits or Gaussian means),
//                                            hidden widths reversed
// laid out as the PyTorch modules classifier / encoder / decoder = nn.Sequential(Linear, act, ...,
// Linear) (parameter names classifier.0.weight, ...). forward() is the classifier (prediction,
// evaluation); forward_objective() is the training objective (Backend::ssvae_objective): every row is
// paired with every class (rows n C + c), z = mu + exp(lv / 2) eps with eps from Philox (seed, step,
// data set row: Pass::row_ids; without them one stream for the batch),
// the labelled ELBO + alpha x cross-entropy on rows with a label, the ELBO summed over classes
// weighted by q(y|x) minus its entropy on rows labelled -1.
class Ssvae final : public Model {
 public:
  Ssvae(const ModelSpec& spec, DType dtype, std::uint64_t seed);
  using Model::forward;
  Tensor forward(Exec& ex, const ModelInput& in, ModelContext& ctx) override;
  void backward(Exec& ex, const ModelContext& ctx, const Tensor& doutput) override;
  std::string describe() const override;
  bool owns_objective() const override { return true; }
  void forward_objective(Exec& ex, const ModelInput& in, const Tensor& labels, const kernels::LossArgs& args,
                         const Tensor& acc, ModelContext& ctx) override;
  // Tests: use this noise eps [N*C, K] (on the device) instead of Philox's; empty: Philox again.
  void set_noise(const Tensor& eps) { fixed_noise_ = eps; }
  // The Philox stream of step s's noise for data set row `row` (bit 62 keeps it apart from dropout's
  // and initialisation's): bits 32-61 hold row + 1, bits 0-31 the step; row -1 (no row ids: tests,
  // a batch without them) gives the batch one stream. noise_stream(s, row) =
  // math::row_stream(noise_stream(s), row): normal_fill's row keys draw exactly these streams.
  static std::uint64_t noise_stream(std::uint64_t step, std::int64_t row = -1) {
    return (std::uint64_t{1} << 62) | (static_cast<std::uint64_t>(row + 1) << 32) | (step & 0xffffffffu);
  }

 private:
  struct Stack {
    std::vector<std::unique_ptr<Layer>> layers;
    Tensor forward(Exec& ex, const Tensor& x, std::vector<ContextSlot>& slots) const;
    Tensor backward(Exec& ex, const std::vector<ContextSlot>& slots, const Tensor& dy) const;
  };
  void build(Stack& s, const std::string& prefix, std::int64_t in, const std::vector<std::int64_t>& widths,
             std::int64_t out, kernels::Activation act);
  struct Saved : Context {
    bool objective = false;
    std::vector<ContextSlot> cls, enc, dec;
    Tensor enc_out, eps, dlogits, denc, drecon;
    std::int64_t rows = 0;
  };
  Stack classifier_, encoder_, decoder_;
  std::int64_t classes_, latent_;
  std::uint64_t seed_;
  Tensor fixed_noise_;
};

}  // namespace hpct::nn
