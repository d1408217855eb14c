#include "nn/mlp.hpp"

#include "nn/activation.hpp"
#include "nn/dropout.hpp"
#include "nn/layer_norm.hpp"
#include "nn/linear.hpp"

namespace hpct::nn {

Mlp::Mlp(const ModelSpec& spec, DType dtype, std::uint64_t seed) : Model(spec, dtype) {
  const kernels::Activation act = kernels::parse_activation(spec.activation);
  auto name = [this] { return cat("layers.", layers_.size()); };
  // Remembers where each layer's parameters start, for the grad-ready hook.
  auto add = [this](auto make_layer) {
    const std::size_t before = params_.entries().size();
    layers_.push_back(make_layer());
    first_offset_.push_back(params_.entries().size() > before ? params_.entries()[before].offset : -1);
  };
  std::int64_t prev = spec.in_features;
  std::uint32_t dropout_id = 0;
  for (std::int64_t w : spec.widths) {
    add([&] { return std::make_unique<Linear>(params_, name(), prev, w); });
    if (spec.layernorm) add([&] { return std::make_unique<LayerNorm>(params_, name(), w); });
    add([&] { return std::make_unique<ActivationLayer>(act); });
    if (spec.dropout > 0) add([&] { return std::make_unique<Dropout>(spec.dropout, seed, dropout_id++); });
    prev = w;
  }
  add([&] { return std::make_unique<Linear>(params_, name(), prev, spec.out_features); });
}

Tensor Mlp::forward(Exec& ex, const ModelInput& in, ModelContext& ctx) {
  HPCT_CHECK(in.tokens.empty() && in.x.rank() == 2, "mlp: input must be x [N, F], got ",
             in.tokens.empty() ? in.x.shape.str() : cat("tokens ", in.tokens.shape.str()));
  Saved& s = make_context<Saved>(ctx.root);
  s.layers.resize(layers_.size());
  Tensor h = in.x;
  for (std::size_t i = 0; i < layers_.size(); ++i) h = layers_[i]->forward(ex, h, s.layers[i]);
  return h;
}

void Mlp::backward(Exec& ex, const ModelContext& ctx, const Tensor& doutput) {
  const Saved& s = context_of<Saved>(ctx.root);
  Tensor g = doutput;
  for (std::size_t i = layers_.size(); i-- > 0;) {
    g = layers_[i]->backward(ex, s.layers[i], g);
    if (first_offset_[i] >= 0) grads_ready_from(first_offset_[i]);
  }
}

std::string Mlp::describe() const {
  std::string s = "mlp:";
  for (const auto& layer : layers_) s.append(" ").append(layer->describe());
  return s;
}

}  // namespace hpct::nn
