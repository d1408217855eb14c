#include <doctest/doctest.h>

#include <cmath>
#include <numbers>

#include "params/parameter_store.hpp"
#include "optim/clip.hpp"
#include "optim/optimizer.hpp"
#include "optim/schedule.hpp"

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

TEST_CASE("clip_grad_norm scales to the max norm and reports the norm before") {
  auto be = kernels::make_cpu_backend(1);
  std::vector<float> g = {3, 4, 0, 0};
  const Tensor t(g.data(), Shape{4}, DType::f32);
  CHECK(optim::clip_grad_norm(*be, t, 0) == doctest::Approx(5));
  CHECK(g[0] == 3.0f);
  CHECK(optim::clip_grad_norm(*be, t, 1.0) == doctest::Approx(5));
  CHECK(std::sqrt(g[0] * g[0] + g[1] * g[1]) == doctest::Approx(1.0).epsilon(1e-5));
  CHECK(optim::clip_grad_norm(*be, t, 10.0) == doctest::Approx(1.0).epsilon(1e-5));
  CHECK(g[1] == doctest::Approx(0.8).epsilon(1e-5));  // below the max: unchanged
}

TEST_CASE("make_optimizer names a bad option") {
  auto be = kernels::make_cpu_backend(1);
  params::ParameterStore store;
  store.add("w", Shape{3}, params::Init::constant(1));
  store.finalize(*be, 1);
  optim::OptimizerOptions o;
  o.name = "lamb";
  CHECK_THROWS_WITH_AS(optim::make_optimizer(o, *be, store), doctest::Contains("lamb"), Error);
  o.name = "adamw";
  o.lr = -1;
  CHECK_THROWS_WITH_AS(optim::make_optimizer(o, *be, store), doctest::Contains("optim.lr"), Error);
  o.lr = 0.1;
  o.name = "sgd";
  o.momentum = 0;
  o.nesterov = true;
  CHECK_THROWS_WITH_AS(optim::make_optimizer(o, *be, store), doctest::Contains("nesterov"), Error);
}

TEST_CASE("AdamW on a quadratic converges and decays weights") {
  auto be = kernels::make_cpu_backend(1);
  params::ParameterStore store;
  const auto id = store.add("w", Shape{2}, params::Init::constant(3));
  store.finalize(*be, 1);
  optim::OptimizerOptions o;
  o.lr = 0.1;
  auto opt = optim::make_optimizer(o, *be, store);
  for (int i = 0; i < 300; ++i) {  // L = 0.5 |w - 1|^2, grad w - 1
    for (int k = 0; k < 2; ++k) store.grad(id).f32()[k] = store.param(id).f32()[k] - 1.0f;
    opt->step(*be, store, o.lr * (i < 150 ? 1.0 : 0.1));
  }
  CHECK(store.param(id).f32()[0] == doctest::Approx(1.0).epsilon(0.01));
  CHECK(opt->steps_taken() == 300);
}
