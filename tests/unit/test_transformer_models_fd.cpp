// Every transformer model with its head and loss against central finite differences in double precision:
// the gradient of the mean loss with respect to every parameter, as the trainer computes it (forward,
// compute_loss with the batch's lengths, backward). Covers transformer-tabular (mean and CLS pooling),
// transformer on token ids and on per-position features with per-token heads (cross-entropy with ignored
// labels and padding, masked MSE) and pooled heads, and the causal byte-level lm; dropout on in some.
// Also: the grad-ready hook's offsets, the spec checks' messages, the spec's checkpoint attributes and
// the sampler's draw, per-token metrics. Set HPCT_FD_REPORT=1 to print the errors.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "fd_check.hpp"
#include "nn/loss.hpp"
#include "nn/model.hpp"
#include "nn/runner.hpp"
#include "nn_test_support.hpp"
#include "test_support.hpp"
#include "train/metrics.hpp"
#include "train/model_io.hpp"
#include "train/predictions.hpp"
#include "train/sampling.hpp"

using namespace hpct;

namespace {

constexpr double kTol = 1e-6;
constexpr std::int64_t kBatch = 3, kLen = 5;
const std::vector<std::int32_t> kLengths = {2, 5, 4};  // padded rows, one full

nn::ModelSpec transformer_spec(const std::string& type) {
  nn::ModelSpec s;
  s.type = type;
  s.d_model = 8;
  s.heads = 2;
  s.layers = 2;
  s.mlp_ratio = 2;
  s.activation = "gelu-exact";
  return s;
}

// A batch: inputs, targets (float f64 or int32 labels) and lengths, in the memory of the backend under test.
struct Case {
  std::string what;
  nn::ModelSpec spec;
  nn::LossKind loss = nn::LossKind::mse;
  Buffer x, tokens, target, lengths;
  nn::ModelInput input() const { return {x.tensor(), tokens.tensor(), lengths.tensor()}; }
  // What the loss is given (the lengths mask per-token float losses), for the mean or its gradient.
  kernels::LossArgs loss_args(bool mean_gradient = false) const {
    kernels::LossArgs a;
    a.lengths = lengths.tensor();
    a.mean = mean_gradient;
    return a;
  }
  // The mean loss of the model's output on this batch.
  double mean_loss(kernels::Backend& be, nn::Runner& runner, nn::Pass pass = {}) const {
    return nn::loss_value(be, loss, runner.forward(input(), pass), target, Tensor{}, loss_args()).mean();
  }
};

// d(mean loss)/d(every parameter) by backward against central differences; the grad-ready hook must
// report non-increasing offsets ending at 0 (every gradient final after the first layer's backward).
void check_model(Case& c) {
  CAPTURE(c.what);
  kernels::Backend& be = test::test_backend();
  auto model = nn::build_model(c.spec, be, 17, DType::f64);
  params::ParameterStore& store = model->params();
  test::fill_random(be, store.flat_params(), 9, 0.5);  // biases and LayerNorm weights off 0 and 1
  nn::Runner runner(be, *model);
  const nn::Pass pass{true, 3};
  auto loss = [&] { return c.mean_loss(be, runner, pass); };
  std::vector<std::int64_t> offsets;
  model->set_grad_ready_hook([&](std::int64_t offset) { offsets.push_back(offset); });
  store.zero_grads(be);
  const Tensor out = runner.forward(c.input(), pass);
  const Tensor dout = runner.alloc(out.shape, DType::f64);
  const nn::LossValue lv = nn::loss_value(be, c.loss, out, c.target, dout, c.loss_args(true));
  CHECK(lv.count > 0);
  runner.backward(dout);
  REQUIRE(!offsets.empty());
  CHECK(offsets.back() == 0);
  for (std::size_t i = 1; i < offsets.size(); ++i) CHECK(offsets[i] <= offsets[i - 1]);
  double worst = 0;
  for (std::size_t p = 0; p < store.entries().size(); ++p) {
    const auto id = static_cast<params::ParamId>(p);
    const std::string& name = store.entries()[p].name;
    const std::vector<double> analytic = test::to_vector(be, store.grad(id));
    const double err = test::rel_error(analytic, test::numeric_gradient(be, store.param(id), loss));
    worst = std::max(worst, err);
    CAPTURE(name);
    CHECK(err < kTol);
  }
  if (std::getenv("HPCT_FD_REPORT")) std::printf("fd %-60s worst rel.err %.2e\n", c.what.c_str(), worst);
}

Buffer labels_buffer(std::int64_t classes, bool ignore_some) {
  std::vector<std::int32_t> t(static_cast<std::size_t>(kBatch * kLen));
  for (std::int64_t n = 0; n < kBatch; ++n)
    for (std::int64_t l = 0; l < kLen; ++l) {
      std::int32_t v = static_cast<std::int32_t>((7 * n + 3 * l + 1) % classes);
      if (l >= kLengths[n] || (ignore_some && (n + l) % 4 == 1)) v = kernels::kIgnoreLabel;  // padding, unlabelled
      t[n * kLen + l] = v;
    }
  return test::upload(test::test_backend(), t, Shape{kBatch, kLen});
}

Buffer token_buffer(std::int64_t vocab) {
  std::vector<std::int32_t> t(static_cast<std::size_t>(kBatch * kLen));
  for (std::int64_t i = 0; i < kBatch * kLen; ++i) t[i] = static_cast<std::int32_t>((5 * i + 2) % vocab);
  return test::upload(test::test_backend(), t, Shape{kBatch, kLen});
}

Buffer lengths_buffer() { return test::upload(test::test_backend(), kLengths); }

}  // namespace

TEST_CASE("transformer-tabular with its head and loss matches finite differences (mean and CLS pooling)") {
  kernels::Backend& be = test::test_backend();
  for (const std::string pooling : {"mean", "cls"}) {
    Case c;
    c.spec = transformer_spec("transformer-tabular");
    c.spec.in_features = 3;
    c.spec.pooling = pooling;
    c.x = test::random_buffer(be, Shape{4, 3}, 1, 1.5);
    if (pooling == "mean") {  // regression, two targets, dropout on
      c.what = "transformer-tabular mean pooling, mse, dropout 0.1";
      c.spec.dropout = 0.1;
      c.spec.out_features = 2;
      c.loss = nn::LossKind::mse;
      c.target = test::random_buffer(be, Shape{4, 2}, 2);
    } else {  // classification, 3 classes
      c.what = "transformer-tabular cls pooling, ce";
      c.spec.out_features = 3;
      c.loss = nn::LossKind::ce;
      c.target = test::upload(be, std::vector<std::int32_t>{0, 1, 2, 0});  // i % 3
    }
    check_model(c);
  }
}

TEST_CASE("transformer on tokens, per-token cross-entropy with ignored labels and padding, matches finite differences") {
  kernels::Backend& be = test::test_backend();
  Case c;
  c.what = "transformer tokens, per-token ce (ignore -1, padding), dropout 0.1";
  c.spec = transformer_spec("transformer");
  c.spec.vocab_size = 7;
  c.spec.max_length = 6;
  c.spec.target_level = "token";
  c.spec.out_features = 3;
  c.spec.dropout = 0.1;
  c.loss = nn::LossKind::ce;
  c.tokens = token_buffer(7);
  c.target = labels_buffer(3, true);
  c.lengths = lengths_buffer();
  check_model(c);
  // The mean is over the labelled positions only.
  std::int64_t labelled = 0;
  for (const std::int32_t label : be.read<std::int32_t>(c.target)) labelled += label != kernels::kIgnoreLabel;
  auto model = nn::build_model(c.spec, be, 3, DType::f64);
  nn::Runner runner(be, *model);
  const Tensor out = runner.forward(c.input());
  CHECK(out.shape == Shape({kBatch, kLen, 3}));
  CHECK(nn::loss_value(be, c.loss, out, c.target, Tensor{}, c.loss_args()).count == labelled);
}

TEST_CASE("transformer on per-position features, masked per-token MSE, matches finite differences") {
  kernels::Backend& be = test::test_backend();
  Case c;
  c.what = "transformer features [N, L, F], per-token mse masked by lengths";
  c.spec = transformer_spec("transformer");
  c.spec.in_features = 4;
  c.spec.max_length = kLen;
  c.spec.target_level = "token";
  c.spec.out_features = 2;
  c.loss = nn::LossKind::mse;
  c.x = test::random_buffer(be, Shape{kBatch, kLen, 4}, 3);
  c.target = test::random_buffer(be, Shape{kBatch, kLen, 2}, 4);  // padding positions hold values too: the loss must not see them
  c.lengths = lengths_buffer();
  check_model(c);
  // Changing a padded target or a padded input changes nothing.
  auto model = nn::build_model(c.spec, be, 3, DType::f64);
  nn::Runner runner(be, *model);
  const double before = c.mean_loss(be, runner);
  const std::int64_t padded_target = (0 * kLen + 3) * 2, padded_x = (0 * kLen + 4) * 4;  // row 0 has length 2
  test::set_element(be, c.target, padded_target, test::element<double>(be, c.target, padded_target) + 10.0);
  test::set_element(be, c.x, padded_x, test::element<double>(be, c.x, padded_x) + 10.0);
  const double after = c.mean_loss(be, runner);
  CHECK(after == doctest::Approx(before).epsilon(1e-12));
}

TEST_CASE("transformer with a pooled head (mean over valid positions, and position 0) matches finite differences") {
  kernels::Backend& be = test::test_backend();
  for (const std::string pooling : {"mean", "cls"}) {
    Case c;
    c.what = "transformer tokens, pooled " + pooling + ", gaussian-nll";
    c.spec = transformer_spec("transformer");
    c.spec.vocab_size = 6;
    c.spec.max_length = kLen;
    c.spec.pooling = pooling;
    c.spec.out_features = 2;  // mean and log-variance of one target
    c.loss = nn::LossKind::gaussian_nll;
    c.tokens = token_buffer(6);
    c.target = test::random_buffer(be, Shape{kBatch, 1}, 5);
    c.lengths = lengths_buffer();
    check_model(c);
  }
}

TEST_CASE("lm: causal byte-level model with next-byte cross-entropy matches finite differences") {
  kernels::Backend& be = test::test_backend();
  Case c;
  c.what = "lm causal, vocab 256, per-token ce, dropout 0.1";
  c.spec = transformer_spec("lm");
  c.spec.vocab_size = 256;
  c.spec.max_length = 8;
  c.spec.causal = true;
  c.spec.target_level = "token";
  c.spec.out_features = 256;
  c.spec.loss = "ce";
  c.spec.dropout = 0.1;
  c.loss = nn::LossKind::ce;
  c.tokens = token_buffer(256);
  c.target = labels_buffer(256, false);
  c.lengths = lengths_buffer();
  check_model(c);
  // Causal: the output at position i does not depend on tokens after i.
  auto model = nn::build_model(c.spec, be, 3, DType::f64);
  nn::Runner runner(be, *model);
  const std::vector<double> a = test::to_vector(be, runner.forward(c.input()));
  test::set_element<std::int32_t>(be, c.tokens, 1 * kLen + 3, 200);
  const std::vector<double> b = test::to_vector(be, runner.forward(c.input()));
  for (std::int64_t l = 0; l < kLen; ++l)
    for (std::int64_t v = 0; v < 256; ++v) {
      const std::size_t i = static_cast<std::size_t>((1 * kLen + l) * 256 + v);
      if (l < 3) CHECK(a[i] == b[i]);
    }
  CHECK(a[static_cast<std::size_t>((1 * kLen + 3) * 256)] != b[static_cast<std::size_t>((1 * kLen + 3) * 256)]);
}

TEST_CASE("transformer specs: errors name the option and value, parameter names, spec attributes round trip") {
  kernels::Backend& be = test::test_backend();
  nn::ModelSpec s = transformer_spec("transformer-tabular");
  s.in_features = 3;
  s.out_features = 1;
  s.d_model = 10;
  s.heads = 3;
  test::check_error([&] { nn::build_model(s, be, 1); }, {"option model.d-model: 10 is not divisible by option model.heads 3"});
  s.d_model = 8;
  s.heads = 2;
  s.pooling = "max";
  test::check_error([&] { nn::build_model(s, be, 1); }, {"option model.pooling", "'max'"});
  s.pooling = "mean";
  s.type = "rnn";
  test::check_error([&] { nn::build_model(s, be, 1); }, {"option model.type", "'rnn'", "transformer-tabular"});
  s.type = "transformer";
  s.vocab_size = 5;
  test::check_error([&] { nn::build_model(s, be, 1); }, {"option model.max-length: must be positive, got 0"});

  // transformer-tabular with CLS: the parameter names in forward order.
  s = transformer_spec("transformer-tabular");
  s.in_features = 3;
  s.out_features = 2;
  s.layers = 1;
  s.pooling = "cls";
  auto model = nn::build_model(s, be, 1);
  std::vector<std::string> names;
  for (const auto& e : model->params().entries()) names.push_back(e.name);
  CHECK(names == std::vector<std::string>{
                     "tokenizer.weight", "tokenizer.bias", "tokenizer.feature_embedding.weight", "tokenizer.cls_token",
                     "blocks.0.self_attn.in_proj_weight", "blocks.0.self_attn.in_proj_bias",
                     "blocks.0.self_attn.out_proj.weight", "blocks.0.self_attn.out_proj.bias",
                     "blocks.0.linear1.weight", "blocks.0.linear1.bias", "blocks.0.linear2.weight",
                     "blocks.0.linear2.bias", "blocks.0.norm1.weight", "blocks.0.norm1.bias", "blocks.0.norm2.weight",
                     "blocks.0.norm2.bias", "norm.weight", "norm.bias", "head.weight", "head.bias"});

  // Every field survives the checkpoint attributes; a checkpoint without the transformer fields (an mlp
  // of an earlier version) reads their defaults.
  nn::ModelSpec lm = transformer_spec("lm");
  lm.vocab_size = 256;
  lm.max_length = 64;
  lm.seq_len = 32;
  lm.mlp_ratio = 2.5;
  lm.causal = true;
  lm.target_level = "token";
  lm.pooling = "cls";
  const nn::ModelSpec back = train::spec_from_attrs(train::spec_to_attrs(lm), "x.h5");
  CHECK(back.type == "lm");
  CHECK(back.d_model == 8);
  CHECK(back.heads == 2);
  CHECK(back.layers == 2);
  CHECK(back.mlp_ratio == 2.5);
  CHECK(back.max_length == 64);
  CHECK(back.vocab_size == 256);
  CHECK(back.seq_len == 32);
  CHECK(back.pooling == "cls");
  CHECK(back.causal);
  CHECK(back.target_level == "token");
  auto old = train::spec_to_attrs(nn::ModelSpec{});
  for (const char* name : {"d_model", "heads", "layers", "mlp_ratio", "max_length", "vocab_size", "seq_len", "pooling",
                           "causal", "target_level"})
    old.erase(name);
  const nn::ModelSpec mlp = train::spec_from_attrs(old, "old.h5");
  CHECK(mlp.type == "mlp");
  CHECK(mlp.d_model == 64);
  CHECK(!mlp.causal);
  CHECK(mlp.target_level == "sequence");
}

TEST_CASE("sample_token: inverse CDF over softmax(z / T), top-k, greedy at temperature 0") {
  const float z[3] = {0.0f, static_cast<float>(std::log(3.0)), -1e9f};  // p = 1/4, 3/4, 0
  CHECK(train::sample_token(z, 3, 1.0, 0, 0.0) == 1);  // candidates by decreasing logit: 1, 0, 2
  CHECK(train::sample_token(z, 3, 1.0, 0, 0.74) == 1);
  CHECK(train::sample_token(z, 3, 1.0, 0, 0.76) == 0);
  CHECK(train::sample_token(z, 3, 1.0, 0, 0.999999) == 0);
  CHECK(train::sample_token(z, 3, 1.0, 1, 0.99) == 1);  // top-1 is greedy
  CHECK(train::sample_token(z, 3, 0.0, 0, 0.99) == 1);  // temperature 0: argmax
  // T = 2: p(1) = sqrt(3) / (1 + sqrt(3)) = 0.634.
  CHECK(train::sample_token(z, 3, 2.0, 0, 0.63) == 1);
  CHECK(train::sample_token(z, 3, 2.0, 0, 0.64) == 0);
}

TEST_CASE("per-token predictions and metrics count the labelled (or valid) positions only, lm perplexity") {
  // 2 sequences of L = 3, 2 classes; labels -1 at padding (row 1 has length 1) and one unlabelled position.
  data::Dataset truth;
  truth.task = data::Task::classification;
  truth.n = 2;
  truth.seq_len = 3;
  truth.num_classes = 2;
  truth.token_targets = true;
  truth.lengths = {3, 1};
  truth.labels = {0, kernels::kIgnoreLabel, 1, 1, kernels::kIgnoreLabel, kernels::kIgnoreLabel};
  // Logits per position: class 0 likely, class 1 likely, ..., so predictions 0, 1, 0 | 1, 0, 1.
  const std::vector<float> raw = {2, 0, 0, 2, 1, 0, 0, 3, 5, 0, 0, 1};
  const train::Predictions p = train::interpret_outputs(nn::LossKind::ce, raw, 2, 2, train::Standardization{}, 3);
  CHECK(p.positions == 3);
  CHECK(p.label == std::vector<std::int32_t>{0, 1, 0, 1, 0, 1});
  const train::Metrics m = train::compute_metrics(p, truth, /*language_model=*/true);
  REQUIRE(m.size() == 3);
  CHECK(m[0].first == "accuracy");
  CHECK(m[0].second == doctest::Approx(2.0 / 3.0));  // positions (0,0) right, (0,2) wrong, (1,0) right
  // NLL of the labelled positions: -log softmax(z)[label].
  auto nll = [](double a, double b, int label) { return std::log(std::exp(a) + std::exp(b)) - (label ? b : a); };
  const double mean_nll = (nll(2, 0, 0) + nll(1, 0, 1) + nll(0, 3, 1)) / 3.0;
  CHECK(m[1].first == "perplexity");
  CHECK(m[1].second == doctest::Approx(std::exp(mean_nll)).epsilon(1e-6));
  CHECK(m[2].first == "bits_per_byte");
  CHECK(m[2].second == doctest::Approx(mean_nll / std::log(2.0)).epsilon(1e-6));
  CHECK(train::metric_names(nn::LossKind::ce, true) == std::vector<std::string>{"accuracy", "perplexity", "bits_per_byte"});

  // Per-token regression: only positions l < length count.
  data::Dataset y;
  y.task = data::Task::regression;
  y.n = 2;
  y.seq_len = 3;
  y.token_targets = true;
  y.lengths = {2, 3};
  y.y = {1, 2, 100, 3, 4, 5};
  const std::vector<float> out = {1, 2, -50, 3, 4, 6};  // errors 0, 0, (padding), 0, 0, 1
  const train::Metrics r = train::compute_metrics(
      train::interpret_outputs(nn::LossKind::mse, out, 2, 1, train::Standardization{}, 3), y);
  CHECK(r[0].first == "mse");
  CHECK(r[0].second == doctest::Approx(1.0 / 5.0));
}

// A per-position conv model (in_features 4) under finite differences twice: ce with padding and
// ignored labels (activation ce_act), masked mse (mse_act).
void check_per_position(const nn::ModelSpec& spec, const std::string& name, const std::string& ce_act,
                        const std::string& mse_act, std::uint64_t seed) {
  kernels::Backend& be = test::test_backend();
  for (const bool ce : {true, false}) {
    Case c;
    c.spec = spec;
    c.spec.in_features = 4;
    c.spec.target_level = "token";
    c.spec.activation = ce ? ce_act : mse_act;
    c.x = test::random_buffer(be, Shape{kBatch, kLen, 4}, seed, 1.5);
    c.lengths = lengths_buffer();
    c.what = cat(name, ce ? ", per-position ce with padding and ignored labels" : ", per-position masked mse");
    c.spec.out_features = ce ? 3 : 2;
    c.loss = ce ? nn::LossKind::ce : nn::LossKind::mse;
    c.target = ce ? labels_buffer(3, true) : test::random_buffer(be, Shape{kBatch, kLen, 2}, seed + 1);
    check_model(c);
  }
}

TEST_CASE("cnn1d with its per-position head and masked losses matches finite differences") {
  nn::ModelSpec s;
  s.type = "cnn1d";
  s.channels = 6;
  s.kernel_size = 3;
  s.layers = 3;
  s.dilations = {1, 2};
  check_per_position(s, "cnn1d, dilations 1,2", "gelu-exact", "tanh", 31);
}

TEST_CASE("cnn1d: a residue's output does not depend on padded positions, and bad options are named") {
  kernels::Backend& be = test::test_backend();
  nn::ModelSpec s;
  s.type = "cnn1d";
  s.in_features = 2;
  s.channels = 4;
  s.kernel_size = 5;
  s.layers = 2;
  s.out_features = 1;
  s.target_level = "token";
  auto model = nn::build_model(s, be, 3, DType::f64);
  nn::Runner runner(be, *model);
  Buffer x = test::random_buffer(be, Shape{kBatch, kLen, 2}, 5);
  Buffer lengths = lengths_buffer();
  const std::vector<double> before = test::to_vector(be, runner.forward({x.tensor(), {}, lengths.tensor()}, {}));
  test::set_element(be, x.tensor(), (0 * kLen + 3) * 2 + 1, 100.0);  // row 0 has length 2: position 3 is padding
  const std::vector<double> after = test::to_vector(be, runner.forward({x.tensor(), {}, lengths.tensor()}, {}));
  for (std::int64_t l = 0; l < kLengths[0]; ++l) CHECK(after[l] == before[l]);
  nn::ModelSpec bad = s;
  bad.kernel_size = 4;
  test::check_throws_with([&] { nn::build_model(bad, be, 1); }, "option model.kernel-size: must be odd");
  bad = s;
  bad.dilations = {1, 0};
  test::check_throws_with([&] { nn::build_model(bad, be, 1); }, "option model.dilations: must be positive, got 0");
  bad = s;
  bad.target_level = "sequence";
  test::check_throws_with([&] { nn::build_model(bad, be, 1); }, "model cnn1d: predicts per position");
}

// unet1d, 3 levels on L = 5: lengths 5 -> 3 -> 2 -> 1 (the up conv from 1 to 2 positions needs output
// padding 1, the others 0), valid positions {2, 5, 4} -> {1, 3, 2} -> {1, 2, 1} -> {1, 1, 1}; row 0's
// up conv from level 2 writes level 1's padded position 1 (2 x 1 > 1), which nothing valid reads.
nn::ModelSpec unet_spec() {
  nn::ModelSpec s;
  s.type = "unet1d";
  s.in_features = 4;
  s.channels = 5;
  s.kernel_size = 3;
  s.layers = 3;
  s.target_level = "token";
  return s;
}

TEST_CASE("unet1d (strided convs down, transposed convs up, skips) matches finite differences") {
  // tanh: with gelu-exact the 1-position bottom level's small gradients meet the central
  // differences' rounding (1-9e-6 relative); cli.cnn1d checks the gelu-exact U-Net against autograd.
  check_per_position(unet_spec(), "unet1d, 3 levels", "tanh", "tanh", 41);
}

TEST_CASE("unet1d: a residue's output does not depend on padded positions, and bad options are named") {
  kernels::Backend& be = test::test_backend();
  nn::ModelSpec s = unet_spec();
  s.out_features = 2;
  auto model = nn::build_model(s, be, 3, DType::f64);
  nn::Runner runner(be, *model);
  Buffer x = test::random_buffer(be, Shape{kBatch, kLen, 4}, 5);
  Buffer lengths = lengths_buffer();
  const std::vector<double> before = test::to_vector(be, runner.forward({x.tensor(), {}, lengths.tensor()}, {}));
  for (const std::int64_t pos : {2, 3, 4})  // row 0 has length 2
    test::set_element(be, x.tensor(), (0 * kLen + pos) * 4 + 1, 100.0 + static_cast<double>(pos));
  test::set_element(be, x.tensor(), (2 * kLen + 4) * 4, -50.0);  // row 2 has length 4
  const std::vector<double> after = test::to_vector(be, runner.forward({x.tensor(), {}, lengths.tensor()}, {}));
  for (std::int64_t n = 0; n < kBatch; ++n)
    for (std::int64_t l = 0; l < kLengths[static_cast<std::size_t>(n)]; ++l)
      for (std::int64_t o = 0; o < 2; ++o) CHECK(after[(n * kLen + l) * 2 + o] == before[(n * kLen + l) * 2 + o]);
  nn::ModelSpec bad = s;
  bad.kernel_size = 2;
  test::check_throws_with([&] { nn::build_model(bad, be, 1); }, "option model.kernel-size: must be odd");
  bad = s;
  bad.target_level = "sequence";
  test::check_throws_with([&] { nn::build_model(bad, be, 1); }, "model unet1d: predicts per position");
}
