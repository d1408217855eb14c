// Compares hpctrain's MLP with the PyTorch reference written by mlp_reference.py (same weights, same
// batch): forward output, loss, every parameter gradient, and the weights after 5 AdamW and 5 SGD
// (Nesterov) steps, on the backend HPCTRAIN_TEST_DEVICE or HPCTRAIN_DEVICE names (cpu by default, or
// cpu-async). Prints the relative error per tensor (||a - b|| / ||b||) and exits 1 when any exceeds its
// tolerance.
// Usage: check_mlp_reference DIR
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "data/dataset.hpp"
#include "data/hdf5.hpp"
#include "kernels/kernels.hpp"
#include "nn/loss.hpp"
#include "nn/model.hpp"
#include "nn/runner.hpp"
#include "optim/optimizer.hpp"
#include "train/batch.hpp"
#include "train/checkpoint.hpp"
#include "train/model_io.hpp"
#include "reference_support.hpp"

using namespace hpct;
namespace h5 = hpct::data::h5;

namespace {

constexpr double kForwardTol = 1e-5, kStepTol = 1e-4;

struct Worst {
  double forward = 0, steps = 0;
  int failures = 0;
};

using hpct::test::rel_error;

void report(const std::string& what, double err, double tol, double& worst, Worst& w) {
  worst = std::max(worst, err);
  const bool ok = err <= tol;
  w.failures += !ok;
  std::printf("%-4s %-34s rel.err %.2e (tol %.0e)\n", ok ? "ok" : "FAIL", what.c_str(), err, tol);
}

// The MLP of init.h5 with its weights, and the whole reference batch gathered as one mini-batch.
struct Setup {
  std::unique_ptr<nn::Model> model;
  nn::LossKind loss;
  std::unique_ptr<train::BatchAssembler> batch;
};

Setup setup(kernels::Backend& be, const train::CheckpointData& init, const data::Dataset& batch_data) {
  Setup s;
  s.model = nn::build_model(train::spec_from_attrs(init.model, "init.h5"), be, 0);
  train::load_parameters(be, *s.model, init.params, "init.h5");
  s.loss = nn::parse_loss(s.model->spec().loss);
  s.batch = std::make_unique<train::BatchAssembler>(be, DType::f32);
  std::vector<std::int64_t> index(batch_data.n);
  for (std::int64_t i = 0; i < batch_data.n; ++i) index[i] = i;
  s.batch->gather(batch_data, index.data(), batch_data.n);
  return s;
}

// Runs `steps` optimizer steps on the batch from the init weights and compares with group `group`.
void check_steps(kernels::Backend& be, const train::CheckpointData& init, const data::Dataset& batch_data,
                 const h5::File& ref, const std::string& group, optim::OptimizerOptions o, Worst& w) {
  auto [model, loss, batch] = setup(be, init, batch_data);
  auto opt = optim::make_optimizer(o, be, model->params());
  nn::Runner runner(be, *model);
  optim::PlainSteps control(be);
  const int steps = static_cast<int>(h5::read_int64_attr(ref, "/" + group, "steps"));
  for (int s = 0; s < steps; ++s) {
    model->params().zero_grads(be);
    const Tensor out = runner.forward(batch->x(), nn::Pass{true, static_cast<std::uint64_t>(s)});
    const Tensor dout = runner.alloc(out.shape, out.dtype);
    test::mean_loss(be, loss, out, batch->target(), dout);
    runner.backward(dout);
    opt->step(be, model->params(), o.lr, control.next(be));
  }
  const params::ParameterStore& store = model->params();
  for (std::size_t i = 0; i < store.entries().size(); ++i) {
    const std::string& name = store.entries()[i].name;
    report(group + "/" + name, rel_error(be.read<float>(store.param(static_cast<params::ParamId>(i))),
                                         h5::read_float(ref, "/" + group + "/" + name)),
           kStepTol, w.steps, w);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: check_mlp_reference DIR (written by tests/reference/mlp_reference.py)\n";
    return 2;
  }
  const std::string dir = argv[1];
  try {
    kernels::Backend& be = test::test_backend();
    std::printf("device: %s\n", be.name().c_str());
    const train::CheckpointData init = train::load_checkpoint(dir + "/init.h5");
    const data::Dataset batch_data = data::read_dataset(dir + "/batch.h5");
    const h5::File ref = h5::File::open_read(dir + "/reference.h5");
    Worst w;

    // Forward, loss and gradients at the initial weights.
    auto [model, loss, batch] = setup(be, init, batch_data);
    model->params().zero_grads(be);
    nn::Runner runner(be, *model);
    const Tensor out = runner.forward(batch->x(), nn::Pass{true, 0});
    report("output", rel_error(be.read<float>(out), h5::read_float(ref, "/output")), kForwardTol, w.forward, w);
    const Tensor dout = runner.alloc(out.shape, out.dtype);
    const double value = test::mean_loss(be, loss, out, batch->target(), dout);
    const double want = h5::read_double_attr(ref, "/", "loss");
    report("loss", std::abs(value - want) / std::abs(want), kForwardTol, w.forward, w);
    runner.backward(dout);
    const params::ParameterStore& store = model->params();
    for (std::size_t i = 0; i < store.entries().size(); ++i) {
      const std::string& name = store.entries()[i].name;
      report("grads/" + name, rel_error(be.read<float>(store.grad(static_cast<params::ParamId>(i))),
                                        h5::read_float(ref, "/grads/" + name)),
             kForwardTol, w.forward, w);
    }

    check_steps(be, init, batch_data, ref, "after_adamw", test::adamw_options(ref), w);

    optim::OptimizerOptions sgd;
    sgd.name = "sgd";
    sgd.lr = h5::read_double_attr(ref, "/after_sgd", "lr");
    sgd.momentum = h5::read_double_attr(ref, "/after_sgd", "momentum");
    sgd.nesterov = h5::read_int64_attr(ref, "/after_sgd", "nesterov") != 0;
    sgd.weight_decay = h5::read_double_attr(ref, "/after_sgd", "weight_decay");
    check_steps(be, init, batch_data, ref, "after_sgd", sgd, w);

    std::printf("worst: forward/gradients %.2e, after optimizer steps %.2e, %d failure(s)\n", w.forward, w.steps,
                w.failures);
    return w.failures ? 1 : 0;
  } catch (const std::exception& e) {
    std::cerr << "check_mlp_reference: " << e.what() << '\n';
    return 1;
  }
}
