// Compares hpctrain's transformer layers with the PyTorch reference written by transformer_reference.py
// (same weights, same batch): the forward output, the loss, d(loss)/dx, every parameter gradient, and
// the weights after the reference's AdamW steps. Case "block": one nn::TransformerBlock against
// nn.TransformerEncoderLayer(norm_first=True, batch_first=True) with key padding (and causal) masks.
// Cases "tabular", "sequence", "lm": a whole 2-block model with its head, built by nn::build_model from
// the file's /model attributes, trained as the trainer does (nn::compute_loss with the lengths).
// Prints the relative error per tensor (||a - b|| / ||b||) and exits 1 when any exceeds its tolerance.
// Usage: check_transformer_reference DIR
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "data/hdf5.hpp"
#include "kernels/kernels.hpp"
#include "nn/loss.hpp"
#include "nn/model.hpp"
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

// Compares a tensor with a reference dataset of the same number of elements.
void compare(const std::string& what, const Tensor& t, const h5::File& ref, const std::string& path, Worst& w) {
  const std::vector<float> want = h5::read_float(ref, path);
  HPCT_CHECK(static_cast<std::int64_t>(want.size()) == t.numel(), path, " has ", want.size(), " elements, ", what,
             " has ", t.numel());
  report(what, rel_error(t.f32(), want), w);
}

// The key third of in_proj_bias has no gradient: it adds q . b_k to every score of a row, which the
// softmax cancels. Both implementations compute ~1e-9 of rounding noise there, and Adam turns noise of
// either sign into steps of about lr, so after AdamW that third is compared only through the checks that
// its gradient vanishes; the query and value thirds are compared as usual.
bool is_in_proj_bias(const std::string& name) {
  const std::string suffix = "in_proj_bias";
  return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void compare_without_key_bias(const std::string& what, const Tensor& t, const h5::File& ref, const std::string& path,
                              Worst& w) {
  std::vector<float> want = h5::read_float(ref, path);
  HPCT_CHECK(static_cast<std::int64_t>(want.size()) == t.numel() && t.numel() % 3 == 0, path, " has ", want.size(),
             " elements, ", what, " has ", t.numel());
  std::vector<float> got(t.f32(), t.f32() + t.numel());
  const std::size_t d = want.size() / 3;
  std::fill(got.begin() + d, got.begin() + 2 * d, 0.0f);
  std::fill(want.begin() + d, want.begin() + 2 * d, 0.0f);
  report(what + " (q, v)", rel_error(got.data(), want), w);
}

// max |key third of the in_proj_bias gradient| relative to the norm of the whole gradient (both ~1e-8).
void check_key_bias_gradient(const std::string& what, const float* g, std::int64_t n, Worst& w) {
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
void load_reference_params(params::ParameterStore& store, const h5::File& ref) {
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
    std::memcpy(p.data, v.data(), v.size() * sizeof(float));
  }
}

std::unique_ptr<Setup> setup(kernels::Backend& be, const h5::File& ref) {
  auto s = std::make_unique<Setup>();
  const std::string act = h5::read_string_attr(ref, "/", "activation");
  s->block = std::make_unique<nn::TransformerBlock>(
      s->store, h5::read_string_attr(ref, "/", "prefix"), h5::read_int64_attr(ref, "/", "d_model"),
      h5::read_int64_attr(ref, "/", "heads"), h5::read_int64_attr(ref, "/", "dim_feedforward"), 0.0,
      kernels::parse_activation(act), 0, 0, h5::read_double_attr(ref, "/", "eps"));
  s->store.finalize(be, 0);
  load_reference_params(s->store, ref);
  return s;
}

// Parameter gradients (with the in_proj_bias key-third checks) and the weights after AdamW.
void compare_grads(const params::ParameterStore& store, const h5::File& ref, Worst& w) {
  for (std::size_t i = 0; i < store.entries().size(); ++i) {
    const std::string& name = store.entries()[i].name;
    const Tensor g = store.grad(static_cast<params::ParamId>(i));
    compare("grads/" + name, g, ref, "/grads/" + name, w);
    if (is_in_proj_bias(name)) {
      check_key_bias_gradient("grads/" + name, g.f32(), g.numel(), w);
      const std::vector<float> want_g = h5::read_float(ref, "/grads/" + name);
      check_key_bias_gradient("torch grads/" + name, want_g.data(), g.numel(), w);
    }
  }
}

void compare_after_adamw(const params::ParameterStore& store, const h5::File& ref, Worst& w) {
  for (std::size_t i = 0; i < store.entries().size(); ++i) {
    const std::string& name = store.entries()[i].name;
    const Tensor p = store.param(static_cast<params::ParamId>(i));
    if (is_in_proj_bias(name))
      compare_without_key_bias("after_adamw/" + name, p, ref, "/after_adamw/" + name, w);
    else
      compare("after_adamw/" + name, p, ref, "/after_adamw/" + name, w);
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

  // The batch: x [N, F] or tokens [N, L] with lengths; targets float /target or int32 /labels.
  std::vector<float> x, target;
  std::vector<std::int32_t> tokens, lengths, labels;
  nn::ModelInput in;
  if (h5::exists(ref, "/x")) {
    x = h5::read_float(ref, "/x");
    in.x = Tensor(x.data(), Shape(shape_of(ref, "/x")), DType::f32);
  } else {
    tokens = h5::read_int32(ref, "/tokens");
    in.tokens = Tensor(tokens.data(), Shape(shape_of(ref, "/tokens")), DType::i32);
  }
  if (h5::exists(ref, "/lengths")) {
    lengths = h5::read_int32(ref, "/lengths");
    in.lengths = lengths.data();
  }
  Tensor target_t;
  if (h5::exists(ref, "/labels")) {
    labels = h5::read_int32(ref, "/labels");
    target_t = Tensor(labels.data(), Shape(shape_of(ref, "/labels")), DType::i32);
  } else {
    target = h5::read_float(ref, "/target");
    target_t = Tensor(target.data(), Shape(shape_of(ref, "/target")), DType::f32);
  }

  Worst w;
  Buffer dout;
  auto make = [&] {
    auto model = nn::build_model(spec, be, 0);
    load_reference_params(model->params(), ref);
    return model;
  };
  auto step_loss = [&](nn::Model& model, std::uint64_t step, Tensor* out_view) {
    const Tensor out = model.forward(be, in, nn::Pass{true, step});
    if (out_view) *out_view = out;
    const Tensor& d = dout.ensure(be.allocator(), out.shape, out.dtype);
    return nn::compute_loss(be, loss_kind, out, target_t, d, 1.0, in.lengths).mean();
  };

  // Forward, loss and gradients at the initial weights.
  auto model = make();
  model->params().zero_grads(be);
  Tensor out;
  const double loss = step_loss(*model, 0, &out);
  compare("output", out, ref, "/output", w);
  const double want = h5::read_double_attr(ref, "/", "loss");
  report("loss", std::abs(loss - want) / std::abs(want), w);
  model->backward(be, dout);
  compare_grads(model->params(), ref, w);

  // AdamW steps on the same batch from the initial weights.
  auto trained = make();
  const optim::OptimizerOptions o = adamw_options(ref);
  auto opt = optim::make_optimizer(o, be, trained->params());
  const std::int64_t steps = h5::read_int64_attr(ref, "/after_adamw", "steps");
  const std::vector<double> want_losses = h5::read_double(ref, "/losses");
  HPCT_CHECK(static_cast<std::int64_t>(want_losses.size()) == steps, "/losses has ", want_losses.size(),
             " values for ", steps, " steps");
  for (std::int64_t step = 0; step < steps; ++step) {
    trained->params().zero_grads(be);
    const double l = step_loss(*trained, static_cast<std::uint64_t>(step), nullptr);
    report(cat("losses[", step, "]"), std::abs(l - want_losses[step]) / std::abs(want_losses[step]), w);
    trained->backward(be, dout);
    opt->step(be, trained->params(), o.lr);
  }
  compare_after_adamw(trained->params(), ref, w);
  std::printf("worst: %.2e, %d failure(s)\n", w.err, w.failures);
  return w.failures ? 1 : 0;
}

struct Batch {
  std::vector<float> x, target;
  std::vector<std::int32_t> lengths;
  Tensor xt, targett;
  nn::SequenceMask mask;
};

// Mean squared error over all elements; writes dL/dout.
double mse(kernels::Backend& be, const Tensor& out, const Batch& b, Buffer& dout) {
  const Tensor& d = dout.ensure(be.allocator(), out.shape, out.dtype);
  const double n = static_cast<double>(out.numel());
  return be.mse_loss(out, b.targett, d, 1.0 / n) / n;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: check_transformer_reference DIR (written by tests/reference/transformer_reference.py)\n";
    return 2;
  }
  try {
    auto be = kernels::make_cpu_backend(1);
    const std::string path = std::string(argv[1]) + "/reference.h5";
    const h5::File ref = h5::File::open_read(path);
    const std::string which = h5::read_string_attr(ref, "/", "case");
    if (which == "tabular" || which == "features" || which == "sequence" || which == "lm") return check_model(*be, ref, path);
    HPCT_CHECK(which == "block", "case ", which, " is not known to this checker");
    Worst w;
    Batch b;
    b.x = h5::read_float(ref, "/x");
    b.target = h5::read_float(ref, "/target");
    b.lengths = h5::read_int32(ref, "/lengths");
    const std::vector<std::int64_t> xs = h5::dataset_info(ref, "/x").shape;
    HPCT_CHECK(xs.size() == 3, "/x must be [N, L, D]");
    b.xt = Tensor(b.x.data(), Shape{xs[0], xs[1], xs[2]}, DType::f32);
    b.targett = Tensor(b.target.data(), b.xt.shape, DType::f32);
    b.mask = nn::SequenceMask{b.lengths.data(), h5::read_int64_attr(ref, "/", "causal") != 0};

    // Forward, loss and gradients at the initial weights.
    auto s = setup(*be, ref);
    s->store.zero_grads(*be);
    const Tensor out = s->block->forward(*be, b.xt, nn::Pass{true, 0}, b.mask);
    compare("output", out, ref, "/output", w);
    Buffer dout;
    const double loss = mse(*be, out, b, dout);
    const double want = h5::read_double_attr(ref, "/", "loss");
    report("loss", std::abs(loss - want) / std::abs(want), w);
    const Tensor dx = s->block->backward(*be, dout);
    compare("grad_input", dx, ref, "/grad_input", w);
    compare_grads(s->store, ref, w);

    // AdamW steps on the same batch from the initial weights.
    auto t = setup(*be, ref);
    const optim::OptimizerOptions o = adamw_options(ref);
    auto opt = optim::make_optimizer(o, *be, t->store);
    const std::int64_t steps = h5::read_int64_attr(ref, "/after_adamw", "steps");
    const std::vector<double> want_losses = h5::read_double(ref, "/losses");
    HPCT_CHECK(static_cast<std::int64_t>(want_losses.size()) == steps, "/losses has ", want_losses.size(),
               " values for ", steps, " steps");
    for (std::int64_t step = 0; step < steps; ++step) {
      t->store.zero_grads(*be);
      const Tensor o_step = t->block->forward(*be, b.xt, nn::Pass{true, static_cast<std::uint64_t>(step)}, b.mask);
      const double l = mse(*be, o_step, b, dout);
      report(cat("losses[", step, "]"), std::abs(l - want_losses[step]) / std::abs(want_losses[step]), w);
      t->block->backward(*be, dout);
      opt->step(*be, t->store, o.lr);
    }
    compare_after_adamw(t->store, ref, w);
    std::printf("worst: %.2e, %d failure(s)\n", w.err, w.failures);
    return w.failures ? 1 : 0;
  } catch (const std::exception& e) {
    std::cerr << "check_transformer_reference: " << e.what() << '\n';
    return 1;
  }
}
