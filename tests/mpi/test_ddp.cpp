// DDP equivalence under real MPI: training on p ranks with global batch B (local batch B/p, and
// with gradient accumulation B/(pK) over K micro-steps) gives the gradients and weights of one
// process training with batch B on the same sample order.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>

#include "data/distributed_sampler.hpp"
#include "data/generators.hpp"
#include "parallel/ddp.hpp"
#include "parallel/world.hpp"
#include "nn/loss.hpp"
#include "nn/model.hpp"
#include "nn/runner.hpp"
#include "optim/optimizer.hpp"
#include "train/batch.hpp"

using namespace hpct;

namespace {

constexpr std::int64_t kGlobalBatch = 24, kSteps = 4;

struct Run {
  std::vector<float> first_grads, weights;
};

double rel_error(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    num += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    den += static_cast<double>(b[i]) * b[i];
  }
  return std::sqrt(num) / std::max(std::sqrt(den), 1e-30);
}

// The backend of the test: HPCTRAIN_TEST_DEVICE (cpu, or cpu-async: the device execution model).
std::unique_ptr<kernels::Backend> test_backend() {
  const char* d = std::getenv("HPCTRAIN_TEST_DEVICE");
  return kernels::make_backend(d && *d ? d : "cpu", 1);
}

// Trains kSteps steps. comm == nullptr: one process, batch kGlobalBatch in permutation order.
// Otherwise: this rank's DistributedSampler share, kGlobalBatch / (p * accum) rows per micro-step.
Run train_steps(dist::Communicator* comm, int accum, bool zero_copy = true) {
  auto be = test_backend();
  data::GeneratorOptions g;
  g.kind = "physics19";
  g.n = kGlobalBatch * kSteps;
  const data::Dataset d = data::generate(g);
  nn::ModelSpec spec;
  spec.in_features = 19;
  spec.widths = {24, 17};
  spec.out_features = 2;
  spec.targets = 2;
  spec.layernorm = true;
  // Each rank seeds differently: the broadcast must make them equal.
  auto model = nn::build_model(spec, *be, comm ? 100 + static_cast<std::uint64_t>(comm->rank()) : 100);
  optim::OptimizerOptions o;
  o.lr = 1e-2;
  o.weight_decay = 0.01;
  auto opt = optim::make_optimizer(o, *be, model->params());

  std::vector<std::int64_t> order;
  std::int64_t micro = kGlobalBatch;
  std::unique_ptr<dist::Ddp> ddp;
  if (comm) {
    dist::DdpOptions dopt;
    dopt.bucket_mb = dopt.first_bucket_mb = 0.002;  // ~500 floats: several buckets
    dopt.zero_copy = zero_copy;
    ddp = std::make_unique<dist::Ddp>(*comm, model->params(), *be, dopt);
    CHECK(ddp->zero_copy() == (zero_copy && comm->size() > 1));
    ddp->broadcast_parameters();
    model->set_grad_ready_hook([&](std::int64_t off) { ddp->grads_ready_from(off); });
    order = data::DistributedSampler(d.n, comm->size(), comm->rank(), 5).indices(1);
    micro = kGlobalBatch / (comm->size() * accum);
  } else {
    order = data::epoch_permutation(d.n, 5, 1);
  }
  REQUIRE(micro * (comm ? comm->size() * accum : 1) == kGlobalBatch);

  Run run;
  train::BatchAssembler batch(*be, DType::f32);
  nn::Runner runner(*be, *model);
  optim::PlainSteps steps(*be);
  std::int64_t pos = 0;
  for (std::int64_t step = 0; step < kSteps; ++step) {
    model->params().zero_grads(*be);
    const int k_max = comm ? accum : 1;
    for (int k = 0; k < k_max; ++k, pos += micro) {
      if (ddp) ddp->begin_step(/*sync=*/k == k_max - 1);
      batch.gather(d, order.data() + pos, micro);
      const Tensor out = runner.forward(batch.x(), nn::Pass{true, static_cast<std::uint64_t>(step)});
      const Tensor dy = runner.alloc(out.shape, out.dtype);
      kernels::LossArgs args;
      args.mean = true;
      args.grad_scale = 1.0 / k_max;
      nn::loss_value(*be, nn::LossKind::mse, out, batch.target(), dy, args);
      runner.backward(dy);
      if (ddp) ddp->finish_step();
    }
    if (step == 0) run.first_grads = be->read<float>(model->params().flat_grads());
    opt->step(*be, model->params(), o.lr, steps.next(*be));
  }
  if (ddp) ddp->check_in_sync("after training");
  run.weights = be->read<float>(model->params().flat_params());
  return run;
}

}  // namespace

TEST_CASE("DDP on p ranks equals one process with the same global batch") {
  dist::Communicator& comm = dist::World::get().comm();
  const Run reference = train_steps(nullptr, 1);
  for (bool zero_copy : {true, false})  // shared-memory window, and MPI_Allreduce
    for (int accum : {1, 2}) {
      CAPTURE(zero_copy);
      CAPTURE(accum);
      CAPTURE(comm.size());
      const Run ddp = train_steps(&comm, accum, zero_copy);
      CHECK(rel_error(ddp.first_grads, reference.first_grads) < 1e-5);
      CHECK(rel_error(ddp.weights, reference.weights) < 1e-4);
    }
}

TEST_CASE("DDP buckets cover the gradient buffer in reverse order") {
  auto be = test_backend();
  nn::ModelSpec spec;
  spec.in_features = 19;
  spec.widths = {64, 64};
  spec.out_features = 1;
  auto model = nn::build_model(spec, *be, 1);
  dist::DdpOptions o;
  o.first_bucket_mb = 0.001;
  o.bucket_mb = 0.01;
  dist::Ddp ddp(dist::World::get().comm(), model->params(), *be, o);
  const auto& b = ddp.buckets();
  REQUIRE(b.size() >= 2);
  CHECK(b.front().end == model->params().flat_size());
  CHECK(b.back().begin == 0);
  for (std::size_t i = 1; i < b.size(); ++i) CHECK(b[i].end == b[i - 1].begin);
}

namespace {

// World's communicator, claiming reduction buffers in device memory (as NCCL's) when `on_device`,
// and recording what Ddp asked make_reduction_buffer for.
class KindOfBuffer final : public dist::Communicator {
 public:
  KindOfBuffer(dist::Communicator& inner, bool on_device) : inner_(inner), on_device_(on_device) {}
  int rank() const override { return inner_.rank(); }
  int size() const override { return inner_.size(); }
  dist::Handle allreduce(const Tensor& buf, dist::ReduceOp op, dist::ReadyEvent ready) override {
    return inner_.allreduce(buf, op, std::move(ready));
  }
  dist::Handle broadcast(const Tensor& buf, int root, dist::ReadyEvent ready) override {
    return inner_.broadcast(buf, root, std::move(ready));
  }
  dist::Handle allgather(const Tensor& send, const Tensor& recv, dist::ReadyEvent ready) override {
    return inner_.allgather(send, recv, std::move(ready));
  }
  dist::Handle reduce_scatter(const Tensor& send, const Tensor& recv, dist::ReduceOp op,
                              dist::ReadyEvent ready) override {
    return inner_.reduce_scatter(send, recv, op, std::move(ready));
  }
  dist::Handle barrier() override { return inner_.barrier(); }
  std::unique_ptr<dist::Communicator> split(int color, int key) override { return inner_.split(color, key); }
  std::unique_ptr<dist::ReductionBuffer> make_reduction_buffer(std::int64_t elements, DType dtype,
                                                               bool wanted) override {
    asked.push_back(wanted);
    return inner_.make_reduction_buffer(elements, dtype, wanted);
  }
  bool reduction_buffer_on_device() const override { return on_device_; }
  std::vector<bool> asked;

 private:
  dist::Communicator& inner_;
  bool on_device_;
};

}  // namespace

// The CUDA backend over MPI: a shared window (host memory) would be useless, so none is made, while
// the collective call is still made on every rank.
TEST_CASE("DDP asks for a reduction buffer only in memory the backend addresses") {
  auto be = test_backend();  // host memory
  nn::ModelSpec spec;
  spec.in_features = 19;
  spec.widths = {16};
  spec.out_features = 1;
  auto model = nn::build_model(spec, *be, 1);
  dist::Communicator& world = dist::World::get().comm();
  for (bool on_device : {false, true}) {
    CAPTURE(on_device);
    KindOfBuffer comm(world, on_device);
    {
      dist::Ddp ddp(comm, model->params(), *be);
      CHECK(comm.asked == std::vector<bool>{!on_device});
      CHECK(ddp.zero_copy() == (!on_device && world.size() > 1));
    }
  }
}
