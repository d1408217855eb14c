#include <doctest/doctest.h>

#include <cmath>
#include <numbers>

#include "nn_test_support.hpp"
#include "params/parameter_store.hpp"
#include "optim/optimizer.hpp"
#include "optim/schedule.hpp"
#include "test_support.hpp"

using namespace hpct;

TEST_CASE("schedules: constant, warm-up, cosine, step") {
  optim::ScheduleOptions o;
  CHECK(optim::Schedule(o, 0.1, 100).lr(57) == doctest::Approx(0.1));
  o.warmup_steps = 4;
  const optim::Schedule warm(o, 0.1, 100);
  CHECK(warm.lr(0) == doctest::Approx(0.025));
  CHECK(warm.lr(3) == doctest::Approx(0.1));
  CHECK(warm.lr(50) == doctest::Approx(0.1));

  o.name = "cosine";
  o.min_lr = 0.01;
  const optim::Schedule cosine(o, 0.1, 104);  // decays over steps 4 .. 103
  CHECK(cosine.lr(4) == doctest::Approx(0.1));
  CHECK(cosine.lr(103) == doctest::Approx(0.01));
  const double mid = 0.01 + 0.09 * 0.5 * (1 + std::cos(std::numbers::pi * 0.5));
  CHECK(cosine.lr(4 + 99 / 2.0) == doctest::Approx(mid).epsilon(0.02));
  CHECK(cosine.lr(60) < cosine.lr(30));

  optim::ScheduleOptions s;
  s.name = "step";
  s.step_size = 10;
  s.gamma = 0.5;
  const optim::Schedule step(s, 0.2, 100);
  CHECK(step.lr(9) == doctest::Approx(0.2));
  CHECK(step.lr(10) == doctest::Approx(0.1));
  CHECK(step.lr(35) == doctest::Approx(0.025));

  s.name = "exponential";
  CHECK_THROWS_WITH_AS(optim::Schedule(s, 0.1, 10), doctest::Contains("exponential"), Error);
  s.name = "step";
  s.step_size = 0;
  CHECK_THROWS_WITH_AS(optim::Schedule(s, 0.1, 10), doctest::Contains("sched.step-size"), Error);
}

namespace {

using kernels::StepControl;

// A store of one parameter w [4] (constant 1) with gradients g, on the backend under test.
struct OneParam {
  params::ParameterStore store;
  params::ParamId id;
  OneParam(kernels::Backend& be, const std::vector<float>& g) {
    id = store.add("w", Shape{4}, params::Init::constant(1));
    store.finalize(be, 1);
    test::write(be, store.grad(id), g);
  }
};

// step_control's device scalars for one step from the gradients' sum of squares (count 1, no loss scale).
std::vector<double> clip_control(kernels::Backend& be, const params::ParameterStore& store, double max_norm,
                                 const Tensor& control) {
  const Buffer sumsq(be.allocator(), Shape{1}, DType::f64), count = test::upload(be, std::vector<double>{1.0});
  be.sum_squares(store.flat_grads(), sumsq);
  kernels::StepControlArgs a;
  a.max_norm = max_norm;
  be.step_control(a, count, sumsq, Tensor{}, control);
  return be.read<double>(control);
}

}  // namespace

TEST_CASE("step_control clips: the norm before clipping in kNorm, the factor in the multiplier of the step") {
  kernels::Backend& be = test::test_backend();
  const std::vector<float> g = {3, 4, 0, 0};
  const double factor = 1.0 / (5.0 + 1e-6);  // torch.nn.utils.clip_grad_norm_: max_norm / (norm + 1e-6)
  for (const char* name : {"adamw", "sgd"}) {
    CAPTURE(name);
    optim::OptimizerOptions o;
    o.name = name;
    o.lr = 0.1;
    o.weight_decay = 0.01;
    // Clipped through the control: max norm 1 of a gradient of norm 5.
    OneParam clipped(be, g);
    const Buffer control(be.allocator(), Shape{StepControl::kSize}, DType::f64);
    be.fill(control, 0.0);
    const std::vector<double> c = clip_control(be, clipped.store, 0.0, control);  // no max norm: unclipped
    CHECK(c[StepControl::kNorm] == doctest::Approx(5.0).epsilon(1e-12));
    CHECK(c[StepControl::kMultiplier] == 1.0);
    be.fill(control, 0.0);
    const std::vector<double> cc = clip_control(be, clipped.store, 1.0, control);
    CHECK(cc[StepControl::kNorm] == doctest::Approx(5.0).epsilon(1e-12));  // reported before clipping
    CHECK(cc[StepControl::kMultiplier] == doctest::Approx(factor).epsilon(1e-12));
    CHECK(cc[StepControl::kStep] == 1.0);
    CHECK(cc[StepControl::kSkip] == 0.0);
    auto opt = optim::make_optimizer(o, be, clipped.store);
    opt->step(be, clipped.store, o.lr, control);
    // The same step on gradients scaled beforehand, with plain control (multiplier 1).
    std::vector<float> scaled = g;
    for (float& x : scaled) x = static_cast<float>(x * factor);
    OneParam prescaled(be, scaled);
    optim::PlainSteps plain(be);
    auto opt2 = optim::make_optimizer(o, be, prescaled.store);
    opt2->step(be, prescaled.store, o.lr, plain.next(be));
    const std::vector<float> a = be.read<float>(clipped.store.param(clipped.id)),
                             b = be.read<float>(prescaled.store.param(prescaled.id));
    for (int i = 0; i < 4; ++i) CHECK(a[i] == doctest::Approx(b[i]).epsilon(1e-6));
    if (o.name == "sgd") {  // p -= lr * (g * factor + wd * p): without the decay, an update of norm lr * max_norm
      const double dx = 1.0 - 1e-3 - a[0], dy = 1.0 - 1e-3 - a[1];  // weight decay: g += wd * p
      CHECK(std::sqrt(dx * dx + dy * dy) == doctest::Approx(0.1).epsilon(1e-5));
    }
    // A max norm above the norm changes nothing: the same bits as a plain step.
    OneParam below(be, g), plain_store(be, g);
    be.fill(control, 0.0);
    CHECK(clip_control(be, below.store, 10.0, control)[StepControl::kMultiplier] == 1.0);
    auto opt3 = optim::make_optimizer(o, be, below.store), opt4 = optim::make_optimizer(o, be, plain_store.store);
    opt3->step(be, below.store, o.lr, control);
    optim::PlainSteps plain2(be);
    opt4->step(be, plain_store.store, o.lr, plain2.next(be));
    CHECK(test::same_bits(be.read<float>(below.store.flat_params()), be.read<float>(plain_store.store.flat_params())));
  }
}

TEST_CASE("make_optimizer names a bad option") {
  kernels::Backend& be = test::test_backend();
  params::ParameterStore store;
  store.add("w", Shape{3}, params::Init::constant(1));
  store.finalize(be, 1);
  optim::OptimizerOptions o;
  o.name = "lamb";
  CHECK_THROWS_WITH_AS(optim::make_optimizer(o, be, store), doctest::Contains("lamb"), Error);
  o.name = "adamw";
  o.lr = -1;
  CHECK_THROWS_WITH_AS(optim::make_optimizer(o, be, store), doctest::Contains("optim.lr"), Error);
  o.lr = 0.1;
  o.name = "sgd";
  o.momentum = 0;
  o.nesterov = true;
  CHECK_THROWS_WITH_AS(optim::make_optimizer(o, be, store), doctest::Contains("nesterov"), Error);
}

TEST_CASE("AdamW on a quadratic converges and decays weights") {
  kernels::Backend& be = test::test_backend();
  params::ParameterStore store;
  const auto id = store.add("w", Shape{2}, params::Init::constant(3));
  store.finalize(be, 1);
  optim::OptimizerOptions o;
  o.lr = 0.1;
  auto opt = optim::make_optimizer(o, be, store);
  optim::PlainSteps steps(be);
  const Buffer ones = test::upload(be, std::vector<float>{1, 1});
  Tensor control;
  for (int i = 0; i < 300; ++i) {  // L = 0.5 |w - 1|^2, grad w - 1, computed on the device
    be.copy(store.grad(id), store.param(id));
    be.axpy(-1.0, ones, store.grad(id));
    control = steps.next(be);
    opt->step(be, store, o.lr * (i < 150 ? 1.0 : 0.1), control);
  }
  CHECK(test::element<float>(be, store.param(id), 0) == doctest::Approx(1.0).epsilon(0.01));
  CHECK(be.read<double>(control)[StepControl::kStep] == 300);  // the steps taken
}
