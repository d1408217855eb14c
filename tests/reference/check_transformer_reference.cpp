// Compares hpctrain's transformer layers with the PyTorch reference written by transformer_reference.py
// (same weights, same batch): the forward output, the loss, d(loss)/dx, every parameter gradient, and
// the weights after the reference's AdamW steps. Case "block": one nn::TransformerBlock against
// nn.TransformerEncoderLayer(norm_first=True, batch_first=True) with key padding (and causal) masks.
// Cases "tabular", "sequence", "lm": a whole 2-block model with its head, built by nn::build_model from
// the file's /model attributes, trained as the trainer does (nn::compute_loss with the lengths).
// Runs on the backend HPCTRAIN_TEST_DEVICE or HPCTRAIN_DEVICE names (cpu by default, or cpu-async).
// Prints the relative error per tensor (||a - b|| / ||b||) and exits 1 when any exceeds its tolerance.
// Usage: check_transformer_reference DIR
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "data/hdf5.hpp"
#include "kernels/kernels.hpp"
#include "nn/loss.hpp"
#include "nn/model.hpp"
#include "nn/runner.hpp"
#include "params/parameter_store.hpp"
#include "nn/transformer_block.hpp"
#include "optim/optimizer.hpp"
#include "train/model_io.hpp"
#include "reference_support.hpp"

using namespace hpct;
namespace h5 = hpct::data::h5;

namespace {

constexpr double kTol = 1e-4;

struct Worst {
  double err = 0;
  int failures = 0;
};

using hpct::test::adamw_options;
using hpct::test::rel_error;

void report(const std::string& what, double err, Worst& w) {
  w.err = std::max(w.err, err);
  const bool ok = err <= kTol;
  w.failures += !ok;
  std::printf("%-4s %-58s rel.err %.2e (tol %.0e)\n", ok ? "ok" : "FAIL", what.c_str(), err, kTol);
}

// Compares a tensor (the backend's memory) with a reference dataset of the same number of elements.
void compare(kernels::Backend& be, const std::string& what, const Tensor& t, const h5::File& ref,
             const std::string& path, Worst& w) {
  const std::vector<float> want = h5::read_float(ref, path);
  HPCT_CHECK(static_cast<std::int64_t>(want.size()) == t.numel(), path, " has ", want.size(), " elements, ", what,
             " has ", t.numel());
  report(what, rel_error(be.read<float>(t), want), w);
}

// The key third of in_proj_bias has no gradient: it adds q . b_k to every score of a row, which the
// softmax cancels. Both implementations compute ~1e-9 of rounding noise there, and Adam turns noise of
// either sign into steps of about lr, so after AdamW that third is compared only through the checks that
// its gradient vanishes; the query and value thirds are compared as usual.
bool is_in_proj_bias(const std::string& name) {
  const std::string suffix = "in_proj_bias";
  return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void compare_without_key_bias(kernels::Backend& be, const std::string& what, const Tensor& t, const h5::File& ref,
                              const std::string& path, Worst& w) {
  std::vector<float> want = h5::read_float(ref, path);
  HPCT_CHECK(static_cast<std::int64_t>(want.size()) == t.numel() && t.numel() % 3 == 0, path, " has ", want.size(),
             " elements, ", what, " has ", t.numel());
  std::vector<float> got = be.read<float>(t);
  const std::size_t d = want.size() / 3;
  std::fill(got.begin() + d, got.begin() + 2 * d, 0.0f);
  std::fill(want.begin() + d, want.begin() + 2 * d, 0.0f);
  report(what + " (q, v)", rel_error(got, want), w);
}

// max |key third of the in_proj_bias gradient| relative to the norm of the whole gradient (both ~1e-8).
void check_key_bias_gradient(const std::string& what, const std::vector<float>& g, Worst& w) {
  const auto n = static_cast<std::int64_t>(g.size());
  double norm = 0, key = 0;
  for (std::int64_t i = 0; i < n; ++i) norm += static_cast<double>(g[i]) * g[i];
  for (std::int64_t i = n / 3; i < 2 * n / 3; ++i) key = std::max(key, std::abs(static_cast<double>(g[i])));
  report(what + " key third ~ 0", key / std::max(std::sqrt(norm), 1e-30), w);
}

// The block of the reference file, with its initial weights (every parameter present, nothing extra).
struct Setup {
  params::ParameterStore store{DType::f32};
  std::unique_ptr<nn::TransformerBlock> block;
};

// Sets every parameter of the store from /params (every one present, nothing extra).
void load_reference_params(kernels::Backend& be, params::ParameterStore& store, const h5::File& ref) {
  const std::vector<std::string> names = h5::members(ref, "/params");
  HPCT_CHECK(names.size() == store.entries().size(), "reference has ", names.size(), " parameters, hpctrain ",
             store.entries().size());
  for (const std::string& name : names) {
    const auto id = store.find(name);
    HPCT_CHECK(id.has_value(), "reference parameter ", name, " is not a parameter of hpctrain's model");
    const std::vector<float> v = h5::read_float(ref, "/params/" + name);
    const Tensor p = store.param(*id);
    HPCT_CHECK(static_cast<std::int64_t>(v.size()) == p.numel(), name, ": reference has ", v.size(),
               " elements, hpctrain ", p.numel());
    be.copy(p, Tensor(const_cast<float*>(v.data()), p.shape, DType::f32));
    be.synchronize();  // v goes at the end of the iteration
  }
  store.weights_changed(be);
}

std::unique_ptr<Setup> setup(kernels::Backend& be, const h5::File& ref) {
  auto s = std::make_unique<Setup>();
  const std::string act = h5::read_string_attr(ref, "/", "activation");
  s->block = std::make_unique<nn::TransformerBlock>(
      s->store, h5::read_string_attr(ref, "/", "prefix"), h5::read_int64_attr(ref, "/", "d_model"),
      h5::read_int64_attr(ref, "/", "heads"), h5::read_int64_attr(ref, "/", "dim_feedforward"), 0.0,
      kernels::parse_activation(act), 0, 0, h5::read_double_attr(ref, "/", "eps"));
  s->store.finalize(be, 0);
  load_reference_params(be, s->store, ref);
  return s;
}

// Parameter gradients (with the in_proj_bias key-third checks) and the weights after AdamW.
void compare_grads(kernels::Backend& be, const params::ParameterStore& store, const h5::File& ref, Worst& w) {
  for (std::size_t i = 0; i < store.entries().size(); ++i) {
    const std::string& name = store.entries()[i].name;
    const Tensor g = store.grad(static_cast<params::ParamId>(i));
    compare(be, "grads/" + name, g, ref, "/grads/" + name, w);
    if (is_in_proj_bias(name)) {
      check_key_bias_gradient("grads/" + name, be.read<float>(g), w);
      check_key_bias_gradient("torch grads/" + name, h5::read_float(ref, "/grads/" + name), w);
    }
  }
}

void compare_after_adamw(kernels::Backend& be, const params::ParameterStore& store, const h5::File& ref, Worst& w) {
  for (std::size_t i = 0; i < store.entries().size(); ++i) {
    const std::string& name = store.entries()[i].name;
    const Tensor p = store.param(static_cast<params::ParamId>(i));
    if (is_in_proj_bias(name))
      compare_without_key_bias(be, "after_adamw/" + name, p, ref, "/after_adamw/" + name, w);
    else
      compare(be, "after_adamw/" + name, p, ref, "/after_adamw/" + name, w);
  }
}

std::vector<std::int64_t> shape_of(const h5::File& ref, const std::string& path) {
  return h5::dataset_info(ref, path).shape;
}

// A whole model (cases tabular, features, sequence, lm): spec from /model, weights from /params, the batch and
// its targets from the file; the loss as the trainer computes it.
int check_model(kernels::Backend& be, const h5::File& ref, const std::string& path) {
  std::map<std::string, train::AttrValue> attrs;
  for (const std::string& name : h5::attr_names(ref, "/model")) {
    switch (h5::attr_kind(ref, "/model", name)) {
      case h5::AttrKind::string: attrs[name] = h5::read_string_attr(ref, "/model", name); break;
      case h5::AttrKind::integer: attrs[name] = h5::read_int64_attr(ref, "/model", name); break;
      case h5::AttrKind::floating: attrs[name] = h5::read_double_attr(ref, "/model", name); break;
      case h5::AttrKind::integer_array: attrs[name] = h5::read_int64_array_attr(ref, "/model", name); break;
      default: fail(path, ": /model attribute ", name, " has an unsupported type");
    }
  }
  const nn::ModelSpec spec = train::spec_from_attrs(attrs, path);
  const nn::LossKind loss_kind = nn::parse_loss(spec.loss);
  std::printf("model %s: %s\n", spec.type.c_str(), path.c_str());

  // The batch, uploaded: x [N, F] or tokens [N, L] with lengths; targets float /target or int32 /labels.
  Buffer x, tokens, lengths, target;
  if (h5::exists(ref, "/x"))
    x = test::upload(be, h5::read_float(ref, "/x"), Shape(shape_of(ref, "/x")));
  else
    tokens = test::upload(be, h5::read_int32(ref, "/tokens"), Shape(shape_of(ref, "/tokens")));
  if (h5::exists(ref, "/lengths")) lengths = test::upload(be, h5::read_int32(ref, "/lengths"), Shape(shape_of(ref, "/lengths")));
  if (h5::exists(ref, "/labels"))
    target = test::upload(be, h5::read_int32(ref, "/labels"), Shape(shape_of(ref, "/labels")));
  else
    target = test::upload(be, h5::read_float(ref, "/target"), Shape(shape_of(ref, "/target")));
  const nn::ModelInput in{x.tensor(), tokens.tensor(), lengths.tensor()};

  Worst w;
  auto make = [&] {
    auto model = nn::build_model(spec, be, 0);
    load_reference_params(be, model->params(), ref);
    return model;
  };
  // Forward and the mean loss with its gradient, as the trainer computes it; backward follows on the runner.
  auto step_loss = [&](nn::Runner& runner, std::uint64_t step, Tensor* out_view) {
    const Tensor out = runner.forward(in, nn::Pass{true, step});
    if (out_view) *out_view = out;
    const Tensor dout = runner.alloc(out.shape, out.dtype);
    const double l = test::mean_loss(be, loss_kind, out, target, dout, lengths);
    return std::make_pair(l, dout);
  };

  // Forward, loss and gradients at the initial weights.
  auto model = make();
  nn::Runner runner(be, *model);
  model->params().zero_grads(be);
  Tensor out;
  const auto [loss, dout] = step_loss(runner, 0, &out);
  compare(be, "output", out, ref, "/output", w);
  const double want = h5::read_double_attr(ref, "/", "loss");
  report("loss", std::abs(loss - want) / std::abs(want), w);
  runner.backward(dout);
  compare_grads(be, model->params(), ref, w);

  // AdamW steps on the same batch from the initial weights.
  auto trained = make();
  nn::Runner trained_runner(be, *trained);
  const optim::OptimizerOptions o = adamw_options(ref);
  auto opt = optim::make_optimizer(o, be, trained->params());
  optim::PlainSteps control(be);
  const std::int64_t steps = h5::read_int64_attr(ref, "/after_adamw", "steps");
  const std::vector<double> want_losses = h5::read_double(ref, "/losses");
  HPCT_CHECK(static_cast<std::int64_t>(want_losses.size()) == steps, "/losses has ", want_losses.size(),
             " values for ", steps, " steps");
  for (std::int64_t step = 0; step < steps; ++step) {
    trained->params().zero_grads(be);
    const auto [l, d] = step_loss(trained_runner, static_cast<std::uint64_t>(step), nullptr);
    report(cat("losses[", step, "]"), std::abs(l - want_losses[step]) / std::abs(want_losses[step]), w);
    trained_runner.backward(d);
    opt->step(be, trained->params(), o.lr, control.next(be));
  }
  compare_after_adamw(be, trained->params(), ref, w);
  std::printf("worst: %.2e, %d failure(s)\n", w.err, w.failures);
  return w.failures ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: check_transformer_reference DIR (written by tests/reference/transformer_reference.py)\n";
    return 2;
  }
  try {
    kernels::Backend& be = test::test_backend();
    std::printf("device: %s\n", be.name().c_str());
    const std::string path = std::string(argv[1]) + "/reference.h5";
    const h5::File ref = h5::File::open_read(path);
    const std::string which = h5::read_string_attr(ref, "/", "case");
    if (which == "tabular" || which == "features" || which == "sequence" || which == "lm") return check_model(be, ref, path);
    HPCT_CHECK(which == "block", "case ", which, " is not known to this checker");
    Worst w;
    const std::vector<std::int64_t> xs = h5::dataset_info(ref, "/x").shape;
    HPCT_CHECK(xs.size() == 3, "/x must be [N, L, D]");
    const Shape x_shape{xs[0], xs[1], xs[2]};
    const Buffer x = test::upload(be, h5::read_float(ref, "/x"), x_shape);
    const Buffer target = test::upload(be, h5::read_float(ref, "/target"), x_shape);
    const Buffer lengths = test::upload(be, h5::read_int32(ref, "/lengths"), Shape{xs[0]});
    const nn::SequenceMask mask{lengths.tensor(), h5::read_int64_attr(ref, "/", "causal") != 0};
    // Forward and the mean squared error over all elements with dL/dout; backward continues the pass.
    test::LayerPass pass(be);
    nn::ContextSlot ctx;
    auto forward_loss = [&](nn::TransformerBlock& block, std::uint64_t step, Tensor* out_view) {
      nn::Exec ex = pass.begin(nn::Pass{true, step});
      const Tensor out = block.forward(ex, x, mask, ctx);
      if (out_view) *out_view = out;
      const Tensor dout = pass.ws.alloc(out.shape, out.dtype);
      const double l = test::mean_loss(be, nn::LossKind::mse, out, target, dout);
      return std::make_pair(l, dout);
    };
    auto backward = [&](nn::TransformerBlock& block, const Tensor& dout) {
      nn::Exec ex = pass.exec();
      return block.backward(ex, ctx, dout);
    };

    // Forward, loss and gradients at the initial weights.
    auto s = setup(be, ref);
    s->store.zero_grads(be);
    Tensor out;
    const auto [loss, dout] = forward_loss(*s->block, 0, &out);
    compare(be, "output", out, ref, "/output", w);
    const double want = h5::read_double_attr(ref, "/", "loss");
    report("loss", std::abs(loss - want) / std::abs(want), w);
    const Tensor dx = backward(*s->block, dout);
    compare(be, "grad_input", dx, ref, "/grad_input", w);
    compare_grads(be, s->store, ref, w);

    // AdamW steps on the same batch from the initial weights.
    auto t = setup(be, ref);
    const optim::OptimizerOptions o = adamw_options(ref);
    auto opt = optim::make_optimizer(o, be, t->store);
    optim::PlainSteps control(be);
    const std::int64_t steps = h5::read_int64_attr(ref, "/after_adamw", "steps");
    const std::vector<double> want_losses = h5::read_double(ref, "/losses");
    HPCT_CHECK(static_cast<std::int64_t>(want_losses.size()) == steps, "/losses has ", want_losses.size(),
               " values for ", steps, " steps");
    for (std::int64_t step = 0; step < steps; ++step) {
      t->store.zero_grads(be);
      const auto [l, d] = forward_loss(*t->block, static_cast<std::uint64_t>(step), nullptr);
      report(cat("losses[", step, "]"), std::abs(l - want_losses[step]) / std::abs(want_losses[step]), w);
      backward(*t->block, d);
      opt->step(be, t->store, o.lr, control.next(be));
    }
    compare_after_adamw(be, t->store, ref, w);
    std::printf("worst: %.2e, %d failure(s)\n", w.err, w.failures);
    return w.failures ? 1 : 0;
  } catch (const std::exception& e) {
    std::cerr << "check_transformer_reference: " << e.what() << '\n';
    return 1;
  }
}
