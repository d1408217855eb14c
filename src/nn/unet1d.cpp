#include "nn/unet1d.hpp"

namespace hpct::nn {

Unet1d::Unet1d(const ModelSpec& spec, DType dtype, std::uint64_t /*seed*/)
    : Model(spec, dtype), act_(kernels::parse_activation(spec.activation)) {
  const std::int64_t c = spec.channels, k = spec.kernel_size, d = spec.layers;
  stem_offset_ = params_.flat_size();
  stem_ = std::make_unique<Conv1d>(params_, "stem", spec.in_features, c, k, 1, (k - 1) / 2);
  auto stage = [&](const std::string& p, bool transposed) {
    Stage s;
    s.offset = params_.flat_size();
    s.norm = std::make_unique<LayerNorm>(params_, p + ".norm", c);
    s.conv = std::make_unique<Conv1d>(params_, p + ".conv", c, c, k, 2, (k - 1) / 2, 1, transposed);
    return s;
  };
  for (std::int64_t i = 0; i < d; ++i) down_.push_back(stage(cat("down.", i), false));
  up_.resize(static_cast<std::size_t>(d));
  for (std::int64_t i = d; i-- > 0;) up_[static_cast<std::size_t>(i)] = stage(cat("up.", i), true);
  norm_offset_ = params_.flat_size();
  norm_ = std::make_unique<LayerNorm>(params_, "norm", c);
  head_ = std::make_unique<Linear>(params_, "head", c, spec.out_features);
}

Tensor Unet1d::stage_forward(Exec& ex, const Stage& st, StageSaved& s, const Tensor& x, const Tensor& lengths,
                             std::int64_t output_padding) {
  Tensor t = st.norm->forward(ex, x, s.norm);
  t = act_.forward(ex, t, s.act);
  return st.conv->forward(ex, t, lengths, s.conv, output_padding);
}

Tensor Unet1d::stage_backward(Exec& ex, const Stage& st, const StageSaved& s, const Tensor& dy) {
  Tensor t = st.conv->backward(ex, s.conv, dy);
  t = act_.backward(ex, s.act, t);
  return st.norm->backward(ex, s.norm, t);
}

Tensor Unet1d::forward(Exec& ex, const ModelInput& in, ModelContext& ctx) {
  HPCT_CHECK(in.tokens.empty() && in.x.rank() == 3, spec_.type, ": input must be x [N, L, ", spec_.in_features,
             "], got ", in.tokens.empty() ? in.x.shape.str() : cat("tokens ", in.tokens.shape.str()));
  Saved& s = make_context<Saved>(ctx.root);
  const std::size_t depth = down_.size();
  s.down.resize(depth);
  s.up.resize(depth);
  // Valid positions of every level, len_i = ceil(len_{i-1} / 2), computed on the host (one read of
  // the batch's lengths) and copied to the device. The read waits for the stream, so the copies of
  // the previous forward, which read s.host, have run.
  s.lengths.assign(depth + 1, Tensor{});
  s.lengths[0] = in.lengths;
  if (!in.lengths.empty() && depth > 0) {
    s.host.assign(depth + 1, ex.be.read<std::int32_t>(in.lengths));
    for (std::size_t i = 1; i <= depth; ++i) {
      for (std::size_t n = 0; n < s.host[i].size(); ++n) s.host[i][n] = (s.host[i - 1][n] + 1) / 2;
      s.lengths[i] = ex.alloc(in.lengths.shape, DType::i32);
      ex.be.copy(s.lengths[i], Tensor(s.host[i].data(), in.lengths.shape, DType::i32));
    }
  }
  std::vector<Tensor> h(depth + 1);
  h[0] = stem_->forward(ex, in.x, in.lengths, s.stem);
  for (std::size_t i = 1; i <= depth; ++i)
    h[i] = stage_forward(ex, down_[i - 1], s.down[i - 1], h[i - 1], s.lengths[i - 1]);
  Tensor u = h[depth];
  for (std::size_t i = depth; i-- > 0;) {
    // Up from level i+1 (length L_{i+1}) to exactly L_i: 2 L_{i+1} - 1 + output padding.
    const std::int64_t pad = h[i].dim(1) - (2 * h[i + 1].dim(1) - 1);
    Tensor t = stage_forward(ex, up_[i], s.up[i], u, s.lengths[i + 1], pad);
    ex.be.axpy(1.0, h[i], t);  // u_i = h_i + up_i(...)
    u = t;
  }
  Tensor t = norm_->forward(ex, u, s.norm);
  t = act_.forward(ex, t, s.act);
  return head_->forward(ex, t, s.head);
}

void Unet1d::backward(Exec& ex, const ModelContext& ctx, const Tensor& doutput) {
  const Saved& s = context_of<Saved>(ctx.root);
  const std::size_t depth = down_.size();
  Tensor g = head_->backward(ex, s.head, doutput);
  g = act_.backward(ex, s.act, g);
  g = norm_->backward(ex, s.norm, g);
  grads_ready_from(norm_offset_);
  // Decoder, in reverse: du[i] is the gradient of u_i, which also reaches h_i through the skip.
  std::vector<Tensor> du(depth + 1);
  du[0] = g;
  for (std::size_t i = 0; i < depth; ++i) {
    du[i + 1] = stage_backward(ex, up_[i], s.up[i], du[i]);
    grads_ready_from(up_[i].offset);
  }
  // Encoder: dh_i = du_i (skip; u_D = h_D) + down_{i+1}'s input gradient.
  g = du[depth];
  for (std::size_t i = depth; i > 0; --i) {
    Tensor t = stage_backward(ex, down_[i - 1], s.down[i - 1], g);
    ex.be.axpy(1.0, du[i - 1], t);
    g = t;
    grads_ready_from(down_[i - 1].offset);
  }
  stem_->backward(ex, s.stem, g);
  grads_ready_from(stem_offset_);
}

std::string Unet1d::describe() const {
  std::string d = cat("unet1d: ", stem_->describe(), ", ", down_.size(), " levels [");
  for (std::size_t i = 0; i < down_.size(); ++i) d += cat(i ? ", " : "", down_[i].conv->describe());
  d += "] up [";
  for (std::size_t i = up_.size(); i-- > 0;) d += cat(i + 1 < up_.size() ? ", " : "", up_[i].conv->describe());
  return d + cat("] with skips, ", norm_->describe(), " ", act_.describe(), " ", head_->describe());
}

}  // namespace hpct::nn
