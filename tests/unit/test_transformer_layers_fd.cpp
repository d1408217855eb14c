// Every transformer layer's backward against central finite differences in double precision (input and
// every parameter): embeddings, the feature tokenizer, multi-head attention and a whole pre-LN block
// with no mask, causal, key-padding and both masks, attention and residual dropout on (fixed seed and
// step, so the masks are fixed), and the pooling layers. Set HPCT_FD_REPORT=1 to print the errors.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "core/philox.hpp"
#include "fd_check.hpp"
#include "nn/cls_pool.hpp"
#include "nn/feature_tokenizer.hpp"
#include "nn/mean_pool.hpp"
#include "nn/multi_head_attention.hpp"
#include "params/parameter_store.hpp"
#include "nn/positional_embedding.hpp"
#include "nn/token_embedding.hpp"
#include "nn/transformer_block.hpp"
#include "nn_test_support.hpp"
#include "test_support.hpp"

using namespace hpct;

namespace {

constexpr double kTol = 1e-6;

void check_rel(const std::string& what, const std::vector<double>& analytic, const std::vector<double>& numeric) {
  const double err = test::rel_error(analytic, numeric);
  if (std::getenv("HPCT_FD_REPORT")) std::printf("fd %-60s rel.err %.2e\n", what.c_str(), err);
  CAPTURE(what);
  CHECK(err < kTol);
}

// L = sum(w * forward()) for a fixed random w. Checks dL/dx (when x is a float tensor) as returned by
// backward(w), and dL/dp for every parameter of the store, accumulated by backward from zero. forward
// starts a pass (LayerPass::begin) and backward continues it; x and the parameters are in be's memory.
void check_gradients(const std::string& what, params::ParameterStore& store, kernels::Backend& be, const Tensor& x,
                     const std::function<Tensor()>& forward, const std::function<Tensor(const Tensor&)>& backward) {
  const Shape out_shape = forward().shape;
  const std::vector<double> w = test::random_values(out_shape.numel(), 12);
  const Buffer w_dev = test::upload(be, w, out_shape);
  auto loss = [&] {
    const std::vector<double> out = test::to_vector(be, forward());
    double s = 0;
    for (std::size_t i = 0; i < out.size(); ++i) s += out[i] * w[i];
    return s;
  };
  forward();
  if (store.finalized()) store.zero_grads(be);
  const Tensor dx = backward(w_dev);
  if (x.dtype == DType::f64) {
    const std::vector<double> analytic = test::to_vector(be, dx);
    check_rel(what + ": input", analytic, test::numeric_gradient(be, x, loss));
  }
  for (std::size_t p = 0; p < store.entries().size(); ++p) {
    const auto id = static_cast<params::ParamId>(p);
    const std::vector<double> analytic = test::to_vector(be, store.grad(id));
    check_rel(what + ": " + store.entries()[p].name, analytic, test::numeric_gradient(be, store.param(id), loss));
  }
}

// A layer's passes for check_gradients: forward starts a pass, backward continues it.
struct Passes {
  test::LayerPass run;
  nn::ContextSlot ctx;
  explicit Passes(kernels::Backend& be) : run(be) {}
  template <class F>
  std::function<Tensor()> forward(nn::Pass pass, F f) {
    return [this, pass, f] {
      nn::Exec ex = run.begin(pass);
      return f(ex, ctx);
    };
  }
  template <class L>
  std::function<Tensor(const Tensor&)> backward(L& layer) {
    return [this, &layer](const Tensor& dy) {
      nn::Exec ex = run.exec();
      return layer.backward(ex, ctx, dy);
    };
  }
};

// A batch of sequences with lengths 2 .. L (the last full) and the four mask variants.
struct MaskCase {
  const char* name;
  bool padded, causal;
};
constexpr MaskCase kMasks[] = {{"no mask", false, false},
                               {"causal", false, true},
                               {"key padding", true, false},
                               {"key padding + causal", true, true}};

std::vector<std::int32_t> lengths_for(std::int64_t batch, std::int64_t len) {
  std::vector<std::int32_t> l(static_cast<std::size_t>(batch));
  for (std::int64_t n = 0; n < batch; ++n) l[n] = static_cast<std::int32_t>(n + 1 == batch ? len : 2 + n % (len - 1));
  return l;
}

}  // namespace

TEST_CASE("TokenEmbedding backward matches finite differences; bad ids are named") {
  kernels::Backend& be = test::test_backend();
  params::ParameterStore store(DType::f64);
  nn::TokenEmbedding layer(store, "tok", 6, 5);
  store.finalize(be, 3);
  std::vector<std::int32_t> host_ids(12);
  for (std::int64_t i = 0; i < 12; ++i)  // ids 0 .. 5, id 1 repeated
    host_ids[i] = static_cast<std::int32_t>((i * 5) % 6 == 4 ? 1 : i % 6);
  const Buffer ids = test::upload(be, host_ids, Shape{3, 4});
  Passes p(be);
  const auto forward = p.forward({}, [&](nn::Exec& ex, nn::ContextSlot& ctx) { return layer.forward(ex, ids, ctx); });
  check_gradients("TokenEmbedding", store, be, ids, forward, p.backward(layer));
  CHECK(forward().shape == Shape({3, 4, 5}));
  test::set_element<std::int32_t>(be, ids, 6, 6);
  // The op raises the error; the asynchronous backend reports it at the next wait.
  test::check_error([&] {
    forward();
    be.synchronize();
  }, {"ids[1, 2] = 6 is outside [0, 6)"});
}

TEST_CASE("PositionalEmbedding backward matches finite differences; too long an input is named") {
  kernels::Backend& be = test::test_backend();
  params::ParameterStore store(DType::f64);
  nn::PositionalEmbedding layer(store, "pos", 7, 4);
  store.finalize(be, 3);
  const Buffer x = test::random_buffer(be, Shape{2, 5, 4}, 1);
  Passes p(be);
  check_gradients("PositionalEmbedding", store, be, x,
                  p.forward({}, [&](nn::Exec& ex, nn::ContextSlot& ctx) { return layer.forward(ex, x, ctx); }),
                  p.backward(layer));
  const Buffer long_x = test::random_buffer(be, Shape{1, 8, 4}, 2);
  test::check_error([&] {
    nn::Exec ex = p.run.begin();
    layer.forward(ex, long_x, p.ctx);
  }, {"pos: sequence length 8 exceeds the positional embedding's max_len 7"});
}

TEST_CASE("FeatureTokenizer backward matches finite differences, with and without a CLS token") {
  kernels::Backend& be = test::test_backend();
  for (const bool cls : {false, true}) {
    CAPTURE(cls);
    params::ParameterStore store(DType::f64);
    nn::FeatureTokenizer layer(store, "tokenizer", 3, 4, cls);
    store.finalize(be, 3);
    const Buffer x = test::random_buffer(be, Shape{5, 3}, 1, 2.0);
    Passes p(be);
    const auto forward = p.forward({}, [&](nn::Exec& ex, nn::ContextSlot& ctx) { return layer.forward(ex, x, ctx); });
    check_gradients(cls ? "FeatureTokenizer+cls" : "FeatureTokenizer", store, be, x, forward, p.backward(layer));
    const Tensor y = forward();
    CHECK(y.shape == Shape({5, cls ? 4 : 3, 4}));
    CHECK(layer.tokens() == (cls ? 4 : 3));
    if (cls) {  // position 0 is the CLS token for every sample
      const std::vector<double> cls_token = test::to_vector(be, store.param(*store.find("tokenizer.cls_token")));
      const std::vector<double> out = test::to_vector(be, y);
      for (std::int64_t n = 0; n < 5; ++n)
        for (std::int64_t c = 0; c < 4; ++c) CHECK(out[n * 16 + c] == cls_token[c]);
    }
  }
}

TEST_CASE("MultiHeadAttention backward matches finite differences: every mask, with and without dropout") {
  kernels::Backend& be = test::test_backend();
  const std::int64_t batch = 3, len = 6, width = 8;
  const Buffer lengths = test::upload(be, lengths_for(batch, len));
  for (const MaskCase& m : kMasks)
    for (const double dropout : {0.0, 0.2}) {
      const std::string what = cat("MultiHeadAttention ", m.name, " p=", dropout);
      CAPTURE(what);
      params::ParameterStore store(DType::f64);
      nn::MultiHeadAttention layer(store, "self_attn", width, 2, dropout, 42, 0);
      store.finalize(be, 5);
      test::fill_random(be, store.flat_params(), 7, 0.5);  // biases away from 0
      const Buffer x = test::random_buffer(be, Shape{batch, len, width}, 1);
      const nn::SequenceMask mask{m.padded ? lengths.tensor() : Tensor{}, m.causal};
      Passes p(be);
      check_gradients(what, store, be, x, p.forward(nn::Pass{true, 3}, [&](nn::Exec& ex, nn::ContextSlot& ctx) {
        return layer.forward(ex, x, mask, ctx);
      }), p.backward(layer));
    }
}

TEST_CASE("MultiHeadAttention: torch parameter names and shapes; heads must divide d_model") {
  params::ParameterStore store(DType::f32);
  nn::MultiHeadAttention layer(store, "blocks.0.self_attn", 12, 3, 0.0, 1, 0);
  std::vector<std::string> names;
  for (const auto& e : store.entries()) names.push_back(e.name + " " + e.shape.str());
  CHECK(names == std::vector<std::string>{"blocks.0.self_attn.in_proj_weight [36, 12]",
                                          "blocks.0.self_attn.in_proj_bias [36]",
                                          "blocks.0.self_attn.out_proj.weight [12, 12]",
                                          "blocks.0.self_attn.out_proj.bias [12]"});
  test::check_error([&] { nn::MultiHeadAttention bad(store, "attn", 10, 3, 0.0, 1, 1); },
                    {"attn: d_model 10 is not divisible by heads 3"});
}

TEST_CASE("TransformerBlock backward matches finite differences: every mask, dropout on") {
  kernels::Backend& be = test::test_backend();
  const std::int64_t batch = 3, len = 5, width = 8;
  const Buffer lengths = test::upload(be, lengths_for(batch, len));
  for (const MaskCase& m : kMasks) {
    const std::string what = cat("TransformerBlock ", m.name, " p=0.1");
    CAPTURE(what);
    params::ParameterStore store(DType::f64);
    nn::TransformerBlock block(store, "blocks.0", width, 2, 16, 0.1, kernels::Activation::gelu_exact, 42, 0);
    store.finalize(be, 5);
    test::fill_random(be, store.flat_params(), 9, 0.5);
    const Buffer x = test::random_buffer(be, Shape{batch, len, width}, 1);
    const nn::SequenceMask mask{m.padded ? lengths.tensor() : Tensor{}, m.causal};
    Passes p(be);
    check_gradients(what, store, be, x, p.forward(nn::Pass{true, 11}, [&](nn::Exec& ex, nn::ContextSlot& ctx) {
      return block.forward(ex, x, mask, ctx);
    }), p.backward(block));
  }
}

TEST_CASE("TransformerBlock: torch state_dict names in torch's order, first_offset, evaluation is deterministic") {
  kernels::Backend& be = test::test_backend();
  params::ParameterStore store(DType::f64);
  nn::Linear before(store, "embed", 3, 4);  // the block's parameters do not start at 0
  nn::TransformerBlock block(store, "blocks.0", 8, 2, 16, 0.1, kernels::Activation::relu, 42, 0);
  std::vector<std::string> names;
  for (const auto& e : store.entries()) names.push_back(e.name);
  const std::vector<std::string> expected{
      "embed.weight", "embed.bias",
      "blocks.0.self_attn.in_proj_weight", "blocks.0.self_attn.in_proj_bias",
      "blocks.0.self_attn.out_proj.weight", "blocks.0.self_attn.out_proj.bias",
      "blocks.0.linear1.weight", "blocks.0.linear1.bias", "blocks.0.linear2.weight", "blocks.0.linear2.bias",
      "blocks.0.norm1.weight", "blocks.0.norm1.bias", "blocks.0.norm2.weight", "blocks.0.norm2.bias"};
  CHECK(names == expected);
  CHECK(block.first_offset() == store.entries()[2].offset);
  CHECK(block.first_offset() > 0);
  store.finalize(be, 1);
  const Buffer x = test::random_buffer(be, Shape{2, 3, 8}, 2);
  Passes p(be);
  auto run = [&](nn::Pass pass) {
    nn::Exec ex = p.run.begin(pass);
    return test::to_vector(be, block.forward(ex, x, p.ctx));
  };
  // Evaluation ignores dropout: two passes with different steps agree; training with dropout differs.
  const std::vector<double> eval1 = run(nn::Pass{false, 1});
  const std::vector<double> eval2 = run(nn::Pass{false, 2});
  CHECK(eval1 == eval2);
  const std::vector<double> train = run(nn::Pass{true, 1});
  CHECK(train != eval1);
}

TEST_CASE("MeanPool and ClsPool backward match finite differences") {
  kernels::Backend& be = test::test_backend();
  params::ParameterStore store(DType::f64);
  const std::int64_t batch = 4, len = 5, width = 3;
  const Buffer lengths = test::upload(be, lengths_for(batch, len));
  const Buffer x = test::random_buffer(be, Shape{batch, len, width}, 1);
  for (const bool padded : {false, true}) {
    nn::MeanPool pool;
    const nn::SequenceMask mask{padded ? lengths.tensor() : Tensor{}, false};
    Passes p(be);
    check_gradients(padded ? "MeanPool key padding" : "MeanPool", store, be, x,
                    p.forward({}, [&](nn::Exec& ex, nn::ContextSlot& ctx) { return pool.forward(ex, x, mask, ctx); }),
                    p.backward(pool));
  }
  nn::ClsPool cls;
  Passes p(be);
  const auto forward = p.forward({}, [&](nn::Exec& ex, nn::ContextSlot& ctx) { return cls.forward(ex, x, ctx); });
  check_gradients("ClsPool", store, be, x, forward, p.backward(cls));
  const std::vector<double> y = test::to_vector(be, forward()), xs = test::to_vector(be, x);
  for (std::int64_t n = 0; n < batch; ++n)
    for (std::int64_t c = 0; c < width; ++c) CHECK(y[n * width + c] == xs[n * len * width + c]);
}

TEST_CASE("Init::normal: Box-Muller over Philox, reproducible, mean 0 and the given std; uniform unchanged") {
  kernels::Backend& be = test::test_backend();
  params::ParameterStore store(DType::f64);
  const auto u = store.add("u", Shape{5}, params::Init::uniform(0.5));
  const auto g = store.add("g", Shape{200000}, params::Init::normal(0.02));
  store.finalize(be, 7);
  const std::vector<double> uniform = test::to_vector(be, store.param(u));
  for (std::int64_t i = 0; i < 5; ++i)  // the uniform stream of parameter 0, as before normal existed
    CHECK(uniform[i] == (2.0 * double(philox_uniform(7, 0, std::uint64_t(i))) - 1.0) * 0.5);
  const std::vector<double> v = test::to_vector(be, store.param(g));
  double sum = 0, sum2 = 0;
  for (std::int64_t i = 0; i < 200000; ++i) {
    sum += v[i];
    sum2 += v[i] * v[i];
  }
  const double mean = sum / 200000, std = std::sqrt(sum2 / 200000 - mean * mean);
  CHECK(std::abs(mean) < 0.02 * 0.01);
  CHECK(std::abs(std / 0.02 - 1.0) < 0.01);
  const double u1 = philox_uniform(7, 1, 6), u2 = philox_uniform(7, 1, 7);
  const double box_muller = 0.02 * std::sqrt(-2.0 * std::log(1.0 - u1)) * std::cos(6.283185307179586 * u2);
  CHECK(v[3] == doctest::Approx(box_muller).epsilon(1e-14));
}
