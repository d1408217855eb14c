#pragma once
#include "nn/model.hpp"

namespace hpct::nn {

// The multilayer perceptron, laid out as the PyTorch module
//   layers = nn.Sequential(Linear(in, w0), [LayerNorm(w0)], Act, [Dropout(p)], Linear(w0, w1), ...,
//                          Linear(w_last, out))
// so that parameter names (layers.<index>.weight) match its state_dict (scripts/hpctrain_torch.py).
class Mlp final : public Model {
 public:
  Mlp(const ModelSpec& spec, DType dtype, std::uint64_t seed);
  using Model::forward;
  Tensor forward(Exec& ex, const ModelInput& in, ModelContext& ctx) override;
  void backward(Exec& ex, const ModelContext& ctx, const Tensor& doutput) override;
  std::string describe() const override;

 private:
  std::vector<std::unique_ptr<Layer>> layers_;
  std::vector<std::int64_t> first_offset_;  // per layer: flat offset of its first parameter, or -1
  struct Saved : Context {
    std::vector<ContextSlot> layers;
  };
};

}  // namespace hpct::nn
