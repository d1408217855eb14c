#include "nn/conv1d.hpp"

#include <cmath>

namespace hpct::nn {

Conv1d::Conv1d(ParameterStore& store, const std::string& prefix, std::int64_t in, std::int64_t out,
               std::int64_t kernel, std::int64_t stride, std::int64_t padding, std::int64_t dilation, bool transposed)
    : store_(store), in_(in), out_(out), kernel_(kernel), stride_(stride), padding_(padding), dilation_(dilation),
      transposed_(transposed) {
  HPCT_CHECK(in > 0 && out > 0 && kernel > 0, prefix, ": Conv1d needs positive channels and kernel size, got ", in,
             " -> ", out, ", kernel ", kernel);
  // PyTorch: bound = 1 / sqrt(fan_in), fan_in = weight.size(1) * K (in for a conv, out for a transposed one).
  const double bound = 1.0 / std::sqrt(static_cast<double>((transposed ? out : in) * kernel));
  weight_ = store.add(prefix + ".weight", transposed ? Shape{in, out, kernel} : Shape{out, in, kernel},
                      Init::uniform(bound));
  bias_ = store.add(prefix + ".bias", Shape{out}, Init::uniform(bound));
}

kernels::Conv1dArgs Conv1d::args(const Tensor& lengths, std::int64_t output_padding) const {
  kernels::Conv1dArgs a;
  a.output_padding = output_padding;
  a.stride = stride_;
  a.padding = padding_;
  a.dilation = dilation_;
  a.lengths = lengths;
  return a;
}

std::int64_t Conv1d::out_length(std::int64_t l) const {
  return transposed_ ? (l - 1) * stride_ - 2 * padding_ + dilation_ * (kernel_ - 1) + 1
                     : (l + 2 * padding_ - dilation_ * (kernel_ - 1) - 1) / stride_ + 1;
}

Tensor Conv1d::forward(Exec& ex, const Tensor& x, const Tensor& lengths, ContextSlot& ctx,
                       std::int64_t output_padding) {
  HPCT_CHECK(x.rank() == 3 && x.dim(2) == in_, describe(), ": input must be [N, L, ", in_, "], got ", x.shape.str());
  HPCT_CHECK(output_padding == 0 || (transposed_ && output_padding > 0 && output_padding < stride_), describe(),
             ": output padding ", output_padding, " (transposed convolutions only, in [0, stride))");
  Saved& s = make_context<Saved>(ctx);
  s.x = x;
  s.lengths = lengths;
  s.output_padding = output_padding;
  const Tensor y = ex.alloc(Shape{x.dim(0), out_length(x.dim(1)) + output_padding, out_}, x.dtype);
  if (transposed_)
    ex.be.conv_transpose1d_forward(x, store_.param(weight_), store_.param(bias_), y, args(lengths, output_padding));
  else
    ex.be.conv1d_forward(x, store_.param(weight_), store_.param(bias_), y, args(lengths, 0));
  return y;
}

// dW, db += (backward-filter); dx = backward-data (kernels.hpp has the formulas).
Tensor Conv1d::backward(Exec& ex, const ContextSlot& ctx, const Tensor& dy) {
  const Saved& s = context_of<Saved>(ctx);
  const Tensor dx = ex.alloc(s.x.shape, s.x.dtype);
  const kernels::Conv1dArgs a = args(s.lengths, s.output_padding);
  if (transposed_) {
    ex.be.conv_transpose1d_backward_filter(s.x, dy, store_.grad(weight_), store_.grad(bias_), a);
    ex.be.conv_transpose1d_backward_data(dy, store_.param(weight_), dx, a);
  } else {
    ex.be.conv1d_backward_filter(s.x, dy, store_.grad(weight_), store_.grad(bias_), a);
    ex.be.conv1d_backward_data(dy, store_.param(weight_), dx, a);
  }
  return dx;
}

std::string Conv1d::describe() const {
  return cat(transposed_ ? "ConvTranspose1d(" : "Conv1d(", in_, " -> ", out_, ", k ", kernel_,
             stride_ != 1 ? cat(", stride ", stride_) : "", dilation_ != 1 ? cat(", dilation ", dilation_) : "", ")");
}

}  // namespace hpct::nn
