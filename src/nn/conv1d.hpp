#pragma once
#include "nn/layer.hpp"
#include "params/parameter_store.hpp"

namespace hpct::nn {

// torch.nn.Conv1d(in, out, kernel, stride, padding, dilation) on channels-last sequences x [N, L, in]
// -> y [N, L', out], masked by the batch's lengths (kernels.hpp, conv1d_forward: positions >= length
// contribute nothing and their outputs are zero). Parameters weight [out, in, K] and bias [out]
// (PyTorch's names, layout and default initialisation U(-1/sqrt(in K), 1/sqrt(in K))). With
// transposed = true it is torch.nn.ConvTranspose1d (weight [in, out, K], bound 1/sqrt(out K)), used for
// up-sampling. Lengths are not a Layer input, so this class has its own forward signature.
class Conv1d final {
 public:
  Conv1d(ParameterStore& store, const std::string& prefix, std::int64_t in, std::int64_t out, std::int64_t kernel,
         std::int64_t stride = 1, std::int64_t padding = 0, std::int64_t dilation = 1, bool transposed = false);
  // lengths: i32 [N] of x's valid positions, or empty. output_padding: transposed only, positions
  // added at the end of the output, in [0, stride) (PyTorch's ConvTranspose1d forward(x, output_size)).
  Tensor forward(Exec& ex, const Tensor& x, const Tensor& lengths, ContextSlot& ctx, std::int64_t output_padding = 0);
  Tensor backward(Exec& ex, const ContextSlot& ctx, const Tensor& dy);
  std::string describe() const;
  std::int64_t out_length(std::int64_t in_length) const;

 private:
  struct Saved : Context {
    Tensor x, lengths;
    std::int64_t output_padding = 0;
  };
  kernels::Conv1dArgs args(const Tensor& lengths, std::int64_t output_padding) const;
  ParameterStore& store_;
  std::int64_t in_, out_, kernel_, stride_, padding_, dilation_;
  bool transposed_;
  ParamId weight_, bias_;
};

}  // namespace hpct::nn
