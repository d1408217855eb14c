#include "optim/optimizer.hpp"

namespace hpct::optim {
namespace {

// [offset, offset + n) of t, or t itself when empty (no master copy, no momentum buffer).
Tensor range_of(const Tensor& t, std::int64_t offset, std::int64_t n) { return t.empty() ? t : t.flat_range(offset, n); }

class AdamW final : public Optimizer {
 public:
  AdamW(const OptimizerOptions& o, kernels::Backend& be, DType dtype, std::int64_t n)
      : o_(o), m_(be.allocator(), Shape{n}, kernels::master_dtype(dtype)), v_(be.allocator(), Shape{n}, kernels::master_dtype(dtype)) {
    be.fill(m_, 0.0);
    be.fill(v_, 0.0);
  }

  void step_range(kernels::Backend& be, const Tensor& params, const Tensor& master, const Tensor& grads,
                  std::int64_t offset, double lr, const Tensor& control) override {
    const kernels::AdamWParams hp{lr, o_.beta1, o_.beta2, o_.eps, o_.weight_decay};
    const std::int64_t n = params.numel();
    be.adamw_step(params, master, grads, m_.tensor().flat_range(offset, n), v_.tensor().flat_range(offset, n), hp,
                  control);
  }
  std::vector<std::pair<std::string, Tensor>> state() const override { return {{"exp_avg", m_}, {"exp_avg_sq", v_}}; }
  std::string describe() const override {
    return cat("adamw(betas=", o_.beta1, ",", o_.beta2, " eps=", o_.eps, " weight_decay=", o_.weight_decay, ")");
  }

 private:
  OptimizerOptions o_;
  Buffer m_, v_;
};

class Sgd final : public Optimizer {
 public:
  Sgd(const OptimizerOptions& o, kernels::Backend& be, DType dtype, std::int64_t n)
      : o_(o), buf_(be.allocator(), Shape{o.momentum > 0 ? n : 0}, kernels::master_dtype(dtype)) {
    be.fill(buf_, 0.0);
  }

  void step_range(kernels::Backend& be, const Tensor& params, const Tensor& master, const Tensor& grads,
                  std::int64_t offset, double lr, const Tensor& control) override {
    const kernels::SgdParams hp{lr, o_.momentum, o_.weight_decay, o_.nesterov};
    be.sgd_step(params, master, grads, range_of(buf_.tensor(), offset, params.numel()), hp, control);
  }
  std::vector<std::pair<std::string, Tensor>> state() const override {
    if (buf_.tensor().empty()) return {};
    return {{"momentum_buffer", buf_}};
  }
  std::string describe() const override {
    return cat("sgd(momentum=", o_.momentum, o_.nesterov ? " nesterov" : "", " weight_decay=", o_.weight_decay, ")");
  }

 private:
  OptimizerOptions o_;
  Buffer buf_;
};

}  // namespace

void Optimizer::step(kernels::Backend& be, params::ParameterStore& store, double lr, const Tensor& control) {
  step_range(be, store.flat_params(), store.flat_master(), store.flat_grads(), 0, lr, control);
}

std::int64_t state_bytes(const Optimizer& o) {
  std::int64_t bytes = 0;
  for (const auto& [name, t] : o.state()) bytes += static_cast<std::int64_t>(t.bytes());
  return bytes;
}

PlainSteps::PlainSteps(kernels::Backend& be)
    : buf_(be.allocator(), Shape{kernels::StepControl::kSize + 1}, DType::f64),
      control_(buf_.tensor().flat_range(0, kernels::StepControl::kSize)) {
  be.fill(buf_, 0.0);
  be.fill(buf_.tensor().flat_range(kernels::StepControl::kSize, 1), 1.0);
}

// multiplier = 1 / count = 1, no finite check, step + 1.
const Tensor& PlainSteps::next(kernels::Backend& be) {
  be.step_control({}, buf_.tensor().flat_range(kernels::StepControl::kSize, 1), Tensor{}, Tensor{}, control_);
  return control_;
}

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
                                          const params::ParameterStore& store, std::int64_t elements) {
  check_optimizer_options(o);
  const std::int64_t n = elements < 0 ? store.flat_size() : elements;
  if (o.name == "adamw") return std::make_unique<AdamW>(o, be, store.dtype(), n);
  return std::make_unique<Sgd>(o, be, store.dtype(), n);
}

}  // namespace hpct::optim
