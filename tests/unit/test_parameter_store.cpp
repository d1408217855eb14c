#include <doctest/doctest.h>

#include <cmath>

#include "nn/model.hpp"
#include "nn_test_support.hpp"
#include "params/parameter_store.hpp"

using namespace hpct;

TEST_CASE("ParameterStore: flat buffers, aligned named views, PyTorch-like initialisation") {
  kernels::Backend& be = test::test_backend();
  params::ParameterStore store;
  const auto w = store.add("layers.0.weight", Shape{13, 7}, params::Init::uniform(0.25));
  const auto b = store.add("layers.0.bias", Shape{13}, params::Init::constant(0.5));
  CHECK_THROWS_AS(store.add("layers.0.bias", Shape{2}, nn::Init{}), Error);
  store.finalize(be, 1);
  CHECK(store.count() == 13 * 7 + 13);
  CHECK(store.flat_size() % 16 == 0);
  CHECK(store.entries()[1].offset % 16 == 0);
  CHECK(store.param(w).shape == Shape{13, 7});
  CHECK(static_cast<float*>(store.param(b).data) ==
        static_cast<float*>(store.flat_params().data) + store.entries()[1].offset);
  const std::vector<float> pw = be.read<float>(store.param(w));
  double lo = 1, hi = -1, mean = 0;
  for (int i = 0; i < 91; ++i) {
    lo = std::min<double>(lo, pw[i]);
    hi = std::max<double>(hi, pw[i]);
    mean += pw[i] / 91;
  }
  CHECK(lo >= -0.25);
  CHECK(hi < 0.25);
  CHECK(hi - lo > 0.3);  // spread over the interval, not a constant
  CHECK(std::abs(mean) < 0.08);
  CHECK(test::element<float>(be, store.param(b), 12) == 0.5f);
  CHECK_THROWS_AS(store.add("late", Shape{1}, nn::Init{}), Error);
}

TEST_CASE("MLP parameter names follow the PyTorch nn.Sequential layout") {
  kernels::Backend& be = test::test_backend();
  nn::ModelSpec spec;
  spec.in_features = 4;
  spec.widths = {8, 6};
  spec.out_features = 2;
  spec.layernorm = true;
  spec.dropout = 0.1;
  auto model = nn::build_model(spec, be, 1);
  std::vector<std::string> names;
  for (const auto& e : model->params().entries()) names.push_back(e.name);
  // Linear 0, LayerNorm 1, act 2, dropout 3, Linear 4, LayerNorm 5, act 6, dropout 7, Linear 8.
  const std::vector<std::string> want = {"layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias",
                                         "layers.4.weight", "layers.4.bias", "layers.5.weight", "layers.5.bias",
                                         "layers.8.weight", "layers.8.bias"};
  CHECK(names == want);
  CHECK(model->params().count() == 4 * 8 + 8 + 16 + 8 * 6 + 6 + 12 + 6 * 2 + 2);
}

TEST_CASE("build_model rejects a bad spec with the option named") {
  kernels::Backend& be = test::test_backend();
  nn::ModelSpec spec;
  spec.in_features = 4;
  spec.out_features = 1;
  spec.activation = "swish";
  CHECK_THROWS_WITH_AS(nn::build_model(spec, be, 1), doctest::Contains("swish"), Error);
  spec.activation = "relu";
  spec.widths = {8, 0};
  CHECK_THROWS_WITH_AS(nn::build_model(spec, be, 1), doctest::Contains("model.widths"), Error);
  spec.widths = {8};
  spec.type = "resnet";
  CHECK_THROWS_WITH_AS(nn::build_model(spec, be, 1), doctest::Contains("resnet"), Error);
}
