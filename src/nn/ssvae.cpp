#include "nn/ssvae.hpp"

#include "nn/linear.hpp"

namespace hpct::nn {

void Ssvae::build(Stack& s, const std::string& prefix, std::int64_t in, const std::vector<std::int64_t>& widths,
                  std::int64_t out, kernels::Activation act) {
  // nn.Sequential(Linear, act, Linear, act, ..., Linear): Linear i sits at index 2 i.
  std::int64_t prev = in;
  for (std::int64_t w : widths) {
    s.layers.push_back(
        std::make_unique<Linear>(params_, cat(prefix, ".", 2 * s.layers.size()), prev, w, true, act));
    prev = w;
  }
  s.layers.push_back(std::make_unique<Linear>(params_, cat(prefix, ".", 2 * s.layers.size()), prev, out));
}

Ssvae::Ssvae(const ModelSpec& spec, DType dtype, std::uint64_t seed)
    : Model(spec, dtype), classes_(spec.out_features), latent_(spec.latent), seed_(seed) {
  const kernels::Activation act = kernels::parse_activation(spec.activation);
  const std::vector<std::int64_t> reversed(spec.widths.rbegin(), spec.widths.rend());
  build(classifier_, "classifier", spec.in_features, spec.widths, classes_, act);
  build(encoder_, "encoder", spec.in_features + classes_, spec.widths, 2 * latent_, act);
  build(decoder_, "decoder", latent_ + classes_, reversed, spec.in_features, act);
}

Tensor Ssvae::Stack::forward(Exec& ex, const Tensor& x, std::vector<ContextSlot>& slots) const {
  slots.resize(layers.size());
  Tensor h = x;
  for (std::size_t i = 0; i < layers.size(); ++i) h = layers[i]->forward(ex, h, slots[i]);
  return h;
}

Tensor Ssvae::Stack::backward(Exec& ex, const std::vector<ContextSlot>& slots, const Tensor& dy) const {
  Tensor g = dy;
  for (std::size_t i = layers.size(); i-- > 0;) g = layers[i]->backward(ex, slots[i], g);
  return g;
}

Tensor Ssvae::forward(Exec& ex, const ModelInput& in, ModelContext& ctx) {
  HPCT_CHECK(in.tokens.empty() && in.x.rank() == 2, "ssvae: input must be x [N, F], got ",
             in.tokens.empty() ? in.x.shape.str() : cat("tokens ", in.tokens.shape.str()));
  Saved& s = make_context<Saved>(ctx.root);
  s.objective = false;
  return classifier_.forward(ex, in.x, s.cls);
}

// Forward of the three networks on the batch paired with every class, then the objective's value and
// its gradients with respect to the logits, the encoder output and the reconstruction (saved for
// backward, which needs no doutput).
void Ssvae::forward_objective(Exec& ex, const ModelInput& in, const Tensor& labels, const kernels::LossArgs& args,
                              const Tensor& acc, ModelContext& ctx) {
  const Tensor logits = forward(ex, in, ctx);
  Saved& s = make_context<Saved>(ctx.root);
  s.objective = true;
  const std::int64_t n = in.x.dim(0), f = in.x.dim(1), rows = n * classes_;
  s.rows = rows;
  const Tensor xc = ex.alloc(Shape{rows, f + classes_}, params_.dtype());
  ex.be.class_concat_forward(in.x, classes_, true, xc);
  s.enc_out = encoder_.forward(ex, xc, s.enc);
  if (!fixed_noise_.empty()) {
    HPCT_CHECK(fixed_noise_.shape == Shape({rows, latent_}), "ssvae: test noise is ", fixed_noise_.shape.str(),
               ", expected [", rows, ", ", latent_, "]");
    s.eps = fixed_noise_;
  } else {
    s.eps = ex.alloc(Shape{rows, latent_}, params_.dtype());
    // With the pass's row ids each data set row's C x K values come from a stream of its own
    // (noise_stream(step, row), normal_fill's row keys: one call): the same noise wherever the row
    // lands (rank, batch position), so N DDP ranks of batch B draw what one process of batch N B
    // draws, and reproduce its weights.
    ex.be.normal_fill(s.eps, seed_, noise_stream(ex.pass.step), ex.pass.row_ids);
  }
  const Tensor z = ex.alloc(Shape{rows, latent_}, params_.dtype());
  ex.be.reparam_forward(s.enc_out, s.eps, z);
  const Tensor zc = ex.alloc(Shape{rows, latent_ + classes_}, params_.dtype());
  ex.be.class_concat_forward(z, classes_, false, zc);
  const Tensor recon = decoder_.forward(ex, zc, s.dec);
  s.dlogits = ex.alloc(logits.shape, params_.dtype());
  s.denc = ex.alloc(s.enc_out.shape, params_.dtype());
  s.drecon = ex.alloc(recon.shape, params_.dtype());
  kernels::SsvaeArgs a;
  a.alpha = spec_.alpha;
  a.gaussian = spec_.recon == "gaussian";
  ex.be.ssvae_objective(in.x, logits, labels, s.enc_out, recon, a, args, acc, s.dlogits, s.denc, s.drecon);
}

void Ssvae::backward(Exec& ex, const ModelContext& ctx, const Tensor& doutput) {
  const Saved& s = context_of<Saved>(ctx.root);
  if (!s.objective) {  // the classifier alone (a loss of its logits)
    classifier_.backward(ex, s.cls, doutput);
    grads_ready_from(0);
    return;
  }
  const Tensor dzc = decoder_.backward(ex, s.dec, s.drecon);
  const Tensor dz = ex.alloc(Shape{s.rows, latent_}, params_.dtype());
  ex.be.class_concat_backward(dzc, classes_, false, dz);
  ex.be.reparam_backward(s.enc_out, s.eps, dz, s.denc);
  encoder_.backward(ex, s.enc, s.denc);
  classifier_.backward(ex, s.cls, s.dlogits);
  grads_ready_from(0);
}

std::string Ssvae::describe() const {
  std::string s = cat("ssvae (latent ", latent_, ", ", spec_.recon, ", alpha ", spec_.alpha, "): classifier:");
  for (const auto& l : classifier_.layers) s.append(" ").append(l->describe());
  s.append("; encoder:");
  for (const auto& l : encoder_.layers) s.append(" ").append(l->describe());
  s.append("; decoder:");
  for (const auto& l : decoder_.layers) s.append(" ").append(l->describe());
  return s;
}

}  // namespace hpct::nn
