#include "nn/cnn1d.hpp"

namespace hpct::nn {

Cnn1d::Cnn1d(const ModelSpec& spec, DType dtype, std::uint64_t /*seed*/)
    : Model(spec, dtype), act_(kernels::parse_activation(spec.activation)) {
  const std::int64_t c = spec.channels, k = spec.kernel_size;
  stem_offset_ = params_.flat_size();
  stem_ = std::make_unique<Conv1d>(params_, "stem", spec.in_features, c, k, 1, (k - 1) / 2);
  for (std::int64_t i = 0; i < spec.layers; ++i) {
    const std::int64_t d = spec.dilations[static_cast<std::size_t>(i) % spec.dilations.size()];
    Block b;
    b.offset = params_.flat_size();
    const std::string p = cat("blocks.", i, ".");
    b.norm = std::make_unique<LayerNorm>(params_, p + "norm", c);
    b.conv = std::make_unique<Conv1d>(params_, p + "conv", c, c, k, 1, d * (k - 1) / 2, d);
    blocks_.push_back(std::move(b));
  }
  norm_offset_ = params_.flat_size();
  norm_ = std::make_unique<LayerNorm>(params_, "norm", c);
  head_ = std::make_unique<Linear>(params_, "head", c, spec.out_features);
}

Tensor Cnn1d::forward(Exec& ex, const ModelInput& in, ModelContext& ctx) {
  HPCT_CHECK(in.tokens.empty() && in.x.rank() == 3, spec_.type, ": input must be x [N, L, ", spec_.in_features,
             "], got ", in.tokens.empty() ? in.x.shape.str() : cat("tokens ", in.tokens.shape.str()));
  Saved& s = make_context<Saved>(ctx.root);
  s.blocks.resize(blocks_.size());
  Tensor h = stem_->forward(ex, in.x, in.lengths, s.stem);
  for (std::size_t i = 0; i < blocks_.size(); ++i) {
    BlockSaved& bs = s.blocks[i];
    Tensor t = blocks_[i].norm->forward(ex, h, bs.norm);
    t = act_.forward(ex, t, bs.act);
    t = blocks_[i].conv->forward(ex, t, in.lengths, bs.conv);
    ex.be.axpy(1.0, h, t);  // t = h + conv(...)
    h = t;
  }
  Tensor t = norm_->forward(ex, h, s.norm);
  t = act_.forward(ex, t, s.act);
  return head_->forward(ex, t, s.head);
}

void Cnn1d::backward(Exec& ex, const ModelContext& ctx, const Tensor& doutput) {
  const Saved& s = context_of<Saved>(ctx.root);
  Tensor g = head_->backward(ex, s.head, doutput);
  g = act_.backward(ex, s.act, g);
  g = norm_->backward(ex, s.norm, g);
  grads_ready_from(norm_offset_);
  for (std::size_t i = blocks_.size(); i-- > 0;) {
    const BlockSaved& bs = s.blocks[i];
    // h_out = h + f(h): dh = g + f'(h)^T g.
    Tensor t = blocks_[i].conv->backward(ex, bs.conv, g);
    t = act_.backward(ex, bs.act, t);
    t = blocks_[i].norm->backward(ex, bs.norm, t);
    ex.be.axpy(1.0, g, t);
    g = t;
    grads_ready_from(blocks_[i].offset);
  }
  stem_->backward(ex, s.stem, g);
  grads_ready_from(stem_offset_);
}

std::string Cnn1d::describe() const {
  std::string d = cat("cnn1d: ", stem_->describe(), ", ", blocks_.size(), " residual blocks [");
  for (std::size_t i = 0; i < blocks_.size(); ++i) d += cat(i ? ", " : "", blocks_[i].conv->describe());
  return d + cat("], ", norm_->describe(), " ", act_.describe(), " ", head_->describe());
}

}  // namespace hpct::nn
