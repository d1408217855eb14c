#include "nn/linear.hpp"

#include <cmath>

namespace hpct::nn {

Linear::Linear(ParameterStore& store, const std::string& prefix, std::int64_t in, std::int64_t out, bool bias)
    : store_(store), in_(in), out_(out) {
  HPCT_CHECK(in > 0 && out > 0, prefix, ": Linear needs positive widths, got ", in, " -> ", out);
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  weight_ = store.add(prefix + ".weight", Shape{out, in}, Init::uniform(bound));
  if (bias) bias_ = store.add(prefix + ".bias", Shape{out}, Init::uniform(bound));
}

Tensor Linear::forward(kernels::Backend& be, const Tensor& x, const Pass&) {
  HPCT_CHECK(x.cols() == in_, describe(), ": input has ", x.cols(), " features");
  x_ = x;
  Shape ys = x.shape;
  ys[ys.rank() - 1] = out_;
  Tensor& y = y_.ensure(be.allocator(), ys, x.dtype);
  if (bias_ >= 0)
    be.gemm_bias(x, false, store_.param(weight_), true, store_.param(bias_), y);  // y = x W^T + b
  else
    be.gemm(x, false, store_.param(weight_), true, y);
  return y;
}

// dx = dy W;  dW += dy^T x;  db += sum over rows of dy.
Tensor Linear::backward(kernels::Backend& be, const Tensor& dy) {
  be.gemm(dy, true, x_, false, store_.grad(weight_), 1.0, 1.0);
  if (bias_ >= 0) be.bias_grad(dy, store_.grad(bias_));
  Tensor& dx = dx_.ensure(be.allocator(), x_.shape, x_.dtype);
  be.gemm(dy, false, store_.param(weight_), false, dx);
  return dx;
}

std::string Linear::describe() const { return cat("Linear(", in_, " -> ", out_, ")"); }

}  // namespace hpct::nn
