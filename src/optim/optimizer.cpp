#include "optim/optimizer.hpp"

namespace hpct::optim {
namespace {

class AdamW final : public Optimizer {
 public:
  AdamW(const OptimizerOptions& o, kernels::Backend& be, const params::ParameterStore& s)
      : o_(o),
        m_(be.allocator(), Shape{s.flat_size()}, s.dtype()),
        v_(be.allocator(), Shape{s.flat_size()}, s.dtype()) {}

  void step(kernels::Backend& be, params::ParameterStore& store, double lr) override {
    ++steps_;
    kernels::AdamWParams hp{lr, o_.beta1, o_.beta2, o_.eps, o_.weight_decay, steps_};
    be.adamw_step(store.flat_params(), store.flat_grads(), m_, v_, hp);
  }
  std::string describe() const override {
    return cat("adamw(betas=", o_.beta1, ",", o_.beta2, " eps=", o_.eps, " weight_decay=", o_.weight_decay, ")");
  }

 private:
  OptimizerOptions o_;
  Buffer m_, v_;
};

class Sgd final : public Optimizer {
 public:
  Sgd(const OptimizerOptions& o, kernels::Backend& be, const params::ParameterStore& s)
      : o_(o), buf_(be.allocator(), Shape{o.momentum > 0 ? s.flat_size() : 0}, s.dtype()) {}

  void step(kernels::Backend& be, params::ParameterStore& store, double lr) override {
    ++steps_;
    kernels::SgdParams hp{lr, o_.momentum, o_.weight_decay, o_.nesterov, steps_ == 1};
    be.sgd_step(store.flat_params(), store.flat_grads(), buf_, hp);
  }
  std::string describe() const override {
    return cat("sgd(momentum=", o_.momentum, o_.nesterov ? " nesterov" : "", " weight_decay=", o_.weight_decay, ")");
  }

 private:
  OptimizerOptions o_;
  Buffer buf_;
};

}  // namespace

void check_optimizer_options(const OptimizerOptions& o) {
  HPCT_CHECK(o.lr > 0, "option optim.lr: must be positive, got ", o.lr);
  HPCT_CHECK(o.weight_decay >= 0, "option optim.weight-decay: must be >= 0, got ", o.weight_decay);
  if (o.name == "adamw") {
    HPCT_CHECK(o.beta1 >= 0 && o.beta1 < 1, "option optim.beta1: must be in [0, 1), got ", o.beta1);
    HPCT_CHECK(o.beta2 >= 0 && o.beta2 < 1, "option optim.beta2: must be in [0, 1), got ", o.beta2);
    HPCT_CHECK(o.eps > 0, "option optim.eps: must be positive, got ", o.eps);
    return;
  }
  if (o.name == "sgd") {
    HPCT_CHECK(o.momentum >= 0 && o.momentum < 1, "option optim.momentum: must be in [0, 1), got ", o.momentum);
    HPCT_CHECK(!o.nesterov || o.momentum > 0, "option optim.nesterov: needs optim.momentum > 0");
    return;
  }
  fail("option optim.name: unknown optimizer '", o.name, "' (valid: adamw, sgd)");
}

std::unique_ptr<Optimizer> make_optimizer(const OptimizerOptions& o, kernels::Backend& be,
                                          const params::ParameterStore& store) {
  check_optimizer_options(o);
  if (o.name == "adamw") return std::make_unique<AdamW>(o, be, store);
  return std::make_unique<Sgd>(o, be, store);
}

}  // namespace hpct::optim
