// Every layer's backward, every loss's gradient and a whole MLP's backward against central finite
// differences in double precision, on the backend under test (nn_test_support.hpp).
#include <doctest/doctest.h>

#include "fd_check.hpp"
#include "nn/activation.hpp"
#include "nn/dropout.hpp"
#include "nn/layer_norm.hpp"
#include "nn/linear.hpp"
#include "nn/loss.hpp"
#include "nn/model.hpp"
#include "nn/runner.hpp"
#include "nn_test_support.hpp"

using namespace hpct;

namespace {

constexpr double kTol = 1e-6;

// L = sum(w * layer(x)) with a fixed random w; checks dL/dx and dL/dparams of one layer.
void check_layer(nn::Layer& layer, params::ParameterStore& store, kernels::Backend& be, Shape in_shape,
                 const nn::Pass& pass) {
  test::LayerPass run(be);
  nn::ContextSlot ctx;
  const Buffer x = test::random_buffer(be, in_shape, 11);
  Shape out_shape;
  {
    nn::Exec ex = run.begin(pass);
    out_shape = layer.forward(ex, x, ctx).shape;
  }
  const std::vector<double> w = test::random_values(out_shape.numel(), 12);
  const Buffer w_dev = test::upload(be, w, out_shape);
  auto loss = [&] {
    nn::Exec ex = run.begin(pass);
    const std::vector<double> out = test::to_vector(be, layer.forward(ex, x, ctx));
    double s = 0;
    for (std::size_t i = 0; i < out.size(); ++i) s += out[i] * w[i];
    return s;
  };
  nn::Exec ex = run.begin(pass);
  layer.forward(ex, x, ctx);
  if (store.finalized()) store.zero_grads(be);
  const Tensor dx = layer.backward(ex, ctx, w_dev);
  const std::vector<double> dx_analytic = test::to_vector(be, dx);
  CHECK(test::rel_error(dx_analytic, test::numeric_gradient(be, x, loss)) < kTol);
  for (std::size_t p = 0; p < store.entries().size(); ++p) {
    CAPTURE(store.entries()[p].name);
    const auto id = static_cast<params::ParamId>(p);
    const std::vector<double> analytic = test::to_vector(be, store.grad(id));
    CHECK(test::rel_error(analytic, test::numeric_gradient(be, store.param(id), loss)) < kTol);
  }
}

}  // namespace

TEST_CASE("Linear backward matches finite differences") {
  kernels::Backend& be = test::test_backend();
  params::ParameterStore store(DType::f64);
  nn::Linear layer(store, "fc", 7, 5);
  store.finalize(be, 3);
  check_layer(layer, store, be, Shape{6, 7}, {});
  SUBCASE("with leading batch dimensions") { check_layer(layer, store, be, Shape{2, 3, 7}, {}); }
}

TEST_CASE("activation backward matches finite differences") {
  kernels::Backend& be = test::test_backend();
  for (const char* name : {"relu", "gelu", "gelu-exact", "tanh", "silu", "identity"}) {
    CAPTURE(name);
    params::ParameterStore store(DType::f64);
    nn::ActivationLayer layer(kernels::parse_activation(name));
    check_layer(layer, store, be, Shape{5, 9}, {});
  }
}

TEST_CASE("LayerNorm backward matches finite differences") {
  kernels::Backend& be = test::test_backend();
  params::ParameterStore store(DType::f64);
  nn::LayerNorm layer(store, "ln", 11);
  store.finalize(be, 5);
  // Move gamma and beta away from 1 and 0 so their gradients are exercised in general position.
  test::fill_random(be, store.flat_params(), 99);
  check_layer(layer, store, be, Shape{4, 11}, {});
}

TEST_CASE("Dropout backward matches finite differences and evaluation is the identity") {
  kernels::Backend& be = test::test_backend();
  params::ParameterStore store(DType::f64);
  nn::Dropout layer(0.3, 42, 0);
  check_layer(layer, store, be, Shape{8, 16}, nn::Pass{true, 7});
  const Buffer x = test::random_buffer(be, Shape{4, 4}, 1);
  test::LayerPass run(be);
  nn::ContextSlot ctx;
  nn::Exec ex = run.begin(nn::Pass{false, 7});
  const Tensor y = layer.forward(ex, x, ctx);
  CHECK(y.data == x.tensor().data);
}

TEST_CASE("losses: gradients match finite differences of the mean loss") {
  kernels::Backend& be = test::test_backend();
  const std::int64_t n = 6, t = 3;
  for (auto kind : {nn::LossKind::mse, nn::LossKind::gaussian_nll, nn::LossKind::bce, nn::LossKind::ce}) {
    CAPTURE(nn::to_string(kind));
    const std::int64_t width = nn::output_width(kind, t, 5);
    const Buffer pred = test::random_buffer(be, Shape{n, width}, 3, 2.0);
    Buffer target;
    if (kind == nn::LossKind::ce) {
      std::vector<std::int32_t> labels(static_cast<std::size_t>(n));
      for (std::int64_t i = 0; i < n; ++i) labels[i] = static_cast<std::int32_t>(i % 5);
      target = test::upload(be, labels, Shape{n});
    } else {
      std::vector<double> y = test::random_values(n * t, 4);
      if (kind == nn::LossKind::bce)  // soft and hard labels in [0, 1]
        for (std::int64_t i = 0; i < n * t; ++i) y[i] = i % 3 == 0 ? 1.0 : 0.5 + 0.5 * y[i];
      target = test::upload(be, y, Shape{n, t});
    }
    const Buffer dpred(be.allocator(), pred.tensor().shape, DType::f64);
    kernels::LossArgs mean_grad;
    mean_grad.mean = true;
    const nn::LossValue lv = nn::loss_value(be, kind, pred, target, dpred, mean_grad);
    CHECK(lv.count == (kind == nn::LossKind::ce ? n : n * t));
    const std::vector<double> analytic = test::to_vector(be, dpred);
    auto mean_loss = [&] { return nn::loss_value(be, kind, pred, target).mean(); };
    CHECK(test::rel_error(analytic, test::numeric_gradient(be, pred, mean_loss)) < kTol);
  }
}

TEST_CASE("whole MLP backward matches finite differences (LayerNorm, dropout, odd widths)") {
  kernels::Backend& be = test::test_backend();
  nn::ModelSpec spec;
  spec.in_features = 5;
  spec.widths = {7, 9, 3};
  spec.out_features = 2;
  spec.activation = "gelu";
  spec.layernorm = true;
  spec.dropout = 0.2;
  auto model = nn::build_model(spec, be, 17, DType::f64);
  params::ParameterStore& store = model->params();
  nn::Runner runner(be, *model);
  const Buffer x = test::random_buffer(be, Shape{4, 5}, 5), target = test::random_buffer(be, Shape{4, 2}, 6);
  const nn::Pass pass{true, 3};
  auto loss = [&] { return nn::loss_value(be, nn::LossKind::mse, runner.forward(x, pass), target).mean(); };
  store.zero_grads(be);
  const Tensor out = runner.forward(x, pass);
  const Tensor dout = runner.alloc(out.shape, DType::f64);
  kernels::LossArgs mean_grad;
  mean_grad.mean = true;
  nn::loss_value(be, nn::LossKind::mse, out, target, dout, mean_grad);
  runner.backward(dout);
  const std::vector<double> analytic = test::to_vector(be, store.flat_grads());
  CHECK(test::rel_error(analytic, test::numeric_gradient(be, store.flat_params(), loss)) < kTol);
}
