// Every layer's backward, every loss's gradient and a whole MLP's backward against central finite
// differences in double precision.
#include <doctest/doctest.h>

#include "fd_check.hpp"
#include "nn/activation.hpp"
#include "nn/dropout.hpp"
#include "nn/layer_norm.hpp"
#include "nn/linear.hpp"
#include "nn/loss.hpp"
#include "nn/model.hpp"

using namespace hpct;

namespace {

constexpr double kTol = 1e-6;

// L = sum(w * layer(x)) with a fixed random w; checks dL/dx and dL/dparams of one layer.
void check_layer(nn::Layer& layer, params::ParameterStore& store, kernels::Backend& be, Shape in_shape,
                 const nn::Pass& pass) {
  Buffer x(host_allocator(), in_shape, DType::f64);
  test::fill_random(x, 11);
  Tensor y = layer.forward(be, x, pass);
  Buffer w(host_allocator(), y.shape, DType::f64);
  test::fill_random(w, 12);
  auto loss = [&] {
    const Tensor out = layer.forward(be, x, pass);
    double s = 0;
    for (std::int64_t i = 0; i < out.numel(); ++i) s += out.as<double>()[i] * w.as<double>()[i];
    return s;
  };
  layer.forward(be, x, pass);
  if (store.finalized()) store.zero_grads(be);
  const Tensor dx = layer.backward(be, w);
  const std::vector<double> dx_analytic = test::to_vector(dx);
  CHECK(test::rel_error(dx_analytic, test::numeric_gradient(x, loss)) < kTol);
  for (std::size_t p = 0; p < store.entries().size(); ++p) {
    CAPTURE(store.entries()[p].name);
    const auto id = static_cast<params::ParamId>(p);
    const std::vector<double> analytic = test::to_vector(store.grad(id));
    CHECK(test::rel_error(analytic, test::numeric_gradient(store.param(id), loss)) < kTol);
  }
}

}  // namespace

TEST_CASE("Linear backward matches finite differences") {
  auto be = kernels::make_cpu_backend(1);
  params::ParameterStore store(DType::f64);
  nn::Linear layer(store, "fc", 7, 5);
  store.finalize(*be, 3);
  check_layer(layer, store, *be, Shape{6, 7}, {});
  SUBCASE("with leading batch dimensions") { check_layer(layer, store, *be, Shape{2, 3, 7}, {}); }
}

TEST_CASE("activation backward matches finite differences") {
  auto be = kernels::make_cpu_backend(1);
  for (const char* name : {"relu", "gelu", "gelu-exact", "tanh", "silu", "identity"}) {
    CAPTURE(name);
    params::ParameterStore store(DType::f64);
    nn::ActivationLayer layer(kernels::parse_activation(name));
    check_layer(layer, store, *be, Shape{5, 9}, {});
  }
}

TEST_CASE("LayerNorm backward matches finite differences") {
  auto be = kernels::make_cpu_backend(1);
  params::ParameterStore store(DType::f64);
  nn::LayerNorm layer(store, "ln", 11);
  store.finalize(*be, 5);
  // Move gamma and beta away from 1 and 0 so their gradients are exercised in general position.
  test::fill_random(store.flat_params(), 99);
  check_layer(layer, store, *be, Shape{4, 11}, {});
}

TEST_CASE("Dropout backward matches finite differences and evaluation is the identity") {
  auto be = kernels::make_cpu_backend(1);
  params::ParameterStore store(DType::f64);
  nn::Dropout layer(0.3, 42, 0);
  check_layer(layer, store, *be, Shape{8, 16}, nn::Pass{true, 7});
  Buffer x(host_allocator(), Shape{4, 4}, DType::f64);
  test::fill_random(x, 1);
  const Tensor y = layer.forward(*be, x, nn::Pass{false, 7});
  CHECK(y.data == x.tensor().data);
}

TEST_CASE("losses: gradients match finite differences of the mean loss") {
  auto be = kernels::make_cpu_backend(1);
  const std::int64_t n = 6, t = 3;
  for (auto kind : {nn::LossKind::mse, nn::LossKind::gaussian_nll, nn::LossKind::bce, nn::LossKind::ce}) {
    CAPTURE(nn::to_string(kind));
    const std::int64_t width = nn::output_width(kind, t, 5);
    Buffer pred(host_allocator(), Shape{n, width}, DType::f64);
    test::fill_random(pred, 3, 2.0);
    Buffer target = kind == nn::LossKind::ce ? Buffer(host_allocator(), Shape{n}, DType::i32)
                                             : Buffer(host_allocator(), Shape{n, t}, DType::f64);
    if (kind == nn::LossKind::ce) {
      for (std::int64_t i = 0; i < n; ++i) target.as<std::int32_t>()[i] = static_cast<std::int32_t>(i % 5);
    } else {
      test::fill_random(target, 4);
      if (kind == nn::LossKind::bce)  // soft and hard labels in [0, 1]
        for (std::int64_t i = 0; i < n * t; ++i) target.as<double>()[i] = i % 3 == 0 ? 1.0 : 0.5 + 0.5 * target.as<double>()[i];
    }
    Buffer dpred(host_allocator(), pred.tensor().shape, DType::f64);
    const nn::LossValue lv = nn::compute_loss(*be, kind, pred, target, dpred, 1.0);
    CHECK(lv.count == (kind == nn::LossKind::ce ? n : n * t));
    auto mean_loss = [&] { return nn::compute_loss(*be, kind, pred, target, Tensor{}, 1.0).mean(); };
    CHECK(test::rel_error(test::to_vector(dpred), test::numeric_gradient(pred, mean_loss)) < kTol);
  }
}

TEST_CASE("whole MLP backward matches finite differences (LayerNorm, dropout, odd widths)") {
  auto be = kernels::make_cpu_backend(1);
  nn::ModelSpec spec;
  spec.in_features = 5;
  spec.widths = {7, 9, 3};
  spec.out_features = 2;
  spec.activation = "gelu";
  spec.layernorm = true;
  spec.dropout = 0.2;
  auto model = nn::build_model(spec, *be, 17, DType::f64);
  params::ParameterStore& store = model->params();
  Buffer x(host_allocator(), Shape{4, 5}, DType::f64), target(host_allocator(), Shape{4, 2}, DType::f64);
  test::fill_random(x, 5);
  test::fill_random(target, 6);
  const nn::Pass pass{true, 3};
  auto loss = [&] {
    const Tensor out = model->forward(*be, x, pass);
    return nn::compute_loss(*be, nn::LossKind::mse, out, target, Tensor{}).mean();
  };
  store.zero_grads(*be);
  const Tensor out = model->forward(*be, x, pass);
  Buffer dout(host_allocator(), out.shape, DType::f64);
  nn::compute_loss(*be, nn::LossKind::mse, out, target, dout);
  model->backward(*be, dout);
  const std::vector<double> analytic = test::to_vector(store.flat_grads());
  CHECK(test::rel_error(analytic, test::numeric_gradient(store.flat_params(), loss)) < kTol);
}
