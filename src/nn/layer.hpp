#pragma once
// A layer with explicit forward and backward (no autograd tape). forward() computes y = f(x) and
// keeps what backward needs (views of its input, saved statistics); backward() receives dL/dy,
// accumulates dL/dparams into the ParameterStore's flat gradient buffer and returns dL/dx.
// Returned views point into the layer's own workspace and stay valid until its next call.
#include <cstdint>
#include <string>

#include "core/buffer.hpp"
#include "kernels/kernels.hpp"
#include "params/parameter_store.hpp"

namespace hpct::nn {

// The flat parameter store lives below nn (optim and parallel use it too); layers name it unqualified.
using params::Init;
using params::ParamId;
using params::ParameterStore;

// What a forward pass is for: training (dropout on) or evaluation, and the optimizer step, which
// selects the dropout masks.
struct Pass {
  bool training = false;
  std::uint64_t step = 0;
};

class Layer {
 public:
  virtual ~Layer() = default;
  virtual Tensor forward(kernels::Backend& be, const Tensor& x, const Pass& pass) = 0;
  virtual Tensor backward(kernels::Backend& be, const Tensor& dy) = 0;
  virtual std::string describe() const = 0;  // e.g. "Linear(7 -> 13)"
};

}  // namespace hpct::nn
