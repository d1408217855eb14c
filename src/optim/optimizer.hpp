#pragma once
// Optimizers update the flat parameter buffer from the flat gradient buffer in one fused kernel call;
// their state (moments, momentum) is flat buffers of the same size.
#include <cstdint>
#include <memory>
#include <string>

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
  // One update with learning rate lr (from the schedule).
  virtual void step(kernels::Backend& be, params::ParameterStore& store, double lr) = 0;
  virtual std::string describe() const = 0;
  std::int64_t steps_taken() const { return steps_; }

 protected:
  std::int64_t steps_ = 0;
};

// Throws naming the first bad option and its value.
void check_optimizer_options(const OptimizerOptions& opt);

// Checks the options (errors name the option and value) and allocates the state on the backend.
std::unique_ptr<Optimizer> make_optimizer(const OptimizerOptions& opt, kernels::Backend& be,
                                          const params::ParameterStore& store);

}  // namespace hpct::optim
