#pragma once
// Optimizers update the flat parameter buffer from the flat gradient buffer in one fused kernel call;
// their state (moments, momentum) is flat buffers of the same size, in fp32 (master_dtype). With 16-bit
// parameters the update goes to the store's fp32 master weights and writes the 16-bit copy in the
// same pass. Everything the step depends on at run time (the gradient multiplier, whether to skip,
// the step count) is in the device tensor `control` (kernels::StepControl).
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/buffer.hpp"
#include "kernels/kernels.hpp"
#include "params/parameter_store.hpp"

namespace hpct::optim {

struct OptimizerOptions {
  std::string name = "adamw";  // adamw | sgd
  double lr = 1e-3;
  double weight_decay = 0.0;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // adamw
  double momentum = 0.9;                           // sgd
  bool nesterov = false;                           // sgd
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // One update with learning rate lr (from the schedule), enqueued: the whole store.
  void step(kernels::Backend& be, params::ParameterStore& store, double lr, const Tensor& control);
  // The update of one flat range: params, master (empty without 16-bit params) and grads of the same
  // length, whose state starts at element state_offset of the state tensors (ZeRO: a rank's blocks).
  virtual void step_range(kernels::Backend& be, const Tensor& params, const Tensor& master, const Tensor& grads,
                          std::int64_t state_offset, double lr, const Tensor& control) = 0;
  virtual std::string describe() const = 0;
  // The state tensors (for checkpoints), in a fixed order with their names.
  virtual std::vector<std::pair<std::string, Tensor>> state() const = 0;
};

// The step control of plain steps (gradients used as they are, never skipped), for callers outside
// the trainer: tools and tests. next() advances the step count on the device and returns the control.
class PlainSteps {
 public:
  explicit PlainSteps(kernels::Backend& be);
  const Tensor& next(kernels::Backend& be);

 private:
  Buffer buf_;  // the control, then a count of 1
  Tensor control_;
};

// Throws naming the first bad option and its value.
void check_optimizer_options(const OptimizerOptions& opt);

// Checks the options (errors name the option and value) and allocates the state on the backend: for
// `elements` parameters (default: the whole store).
std::unique_ptr<Optimizer> make_optimizer(const OptimizerOptions& opt, kernels::Backend& be,
                                          const params::ParameterStore& store, std::int64_t elements = -1);

// Bytes of the optimizer's state tensors.
std::int64_t state_bytes(const Optimizer& o);

}  // namespace hpct::optim
