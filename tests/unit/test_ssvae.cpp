// The semi-supervised VAE (model ssvae): the whole objective (labelled ELBO + alpha x cross-entropy,
// unlabelled ELBO over classes weighted by q(y|x) plus its entropy) against central finite differences
// in double precision with the noise fixed, for Bernoulli and Gaussian reconstruction; the Philox
// noise's determinism and moments; the spec checks. With HPCT_SSVAE_DUMP=FILE the first case writes
// its inputs, weights, noise, objective and gradients as text for tests/reference/ssvae_torch.py (the
// PyTorch reference, run by tests/cli/ssvae.sh).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "fd_check.hpp"
#include "nn/model.hpp"
#include "nn/ssvae.hpp"
#include "nn_test_support.hpp"
#include "test_support.hpp"

using namespace hpct;

namespace {

constexpr std::int64_t kN = 5, kF = 6, kC = 3, kK = 2;

nn::ModelSpec ssvae_spec(const std::string& recon) {
  nn::ModelSpec s;
  s.type = "ssvae";
  s.in_features = kF;
  s.out_features = kC;
  s.widths = {7, 4};
  s.activation = "tanh";
  s.loss = "ce";
  s.task = "classification";
  s.latent = kK;
  s.recon = recon;
  s.alpha = 0.7;
  return s;
}

void dump(std::ofstream& out, const std::string& name, const std::vector<double>& v, const Shape& shape) {
  out << name << " " << shape.rank();
  for (std::int64_t d : shape.vec()) out << " " << d;
  out.precision(17);
  for (double x : v) out << " " << x;
  out << "\n";
}

void check_ssvae(const std::string& recon) {
  CAPTURE(recon);
  kernels::Backend& be = test::test_backend();
  auto model = nn::build_model(ssvae_spec(recon), be, 17, DType::f64);
  auto& ssvae = dynamic_cast<nn::Ssvae&>(*model);
  params::ParameterStore& store = model->params();
  test::fill_random(be, store.flat_params(), 9, 0.6);
  // x in [0, 1] (Bernoulli targets), two labelled rows, three unlabelled.
  std::vector<double> xv = test::random_values(kN * kF, 3, 0.5);
  for (double& v : xv) v += 0.5;
  const Buffer x = test::upload(be, xv, Shape{kN, kF});
  const std::vector<std::int32_t> labels_v = {1, -1, 0, -1, -1};
  const Buffer labels = test::upload(be, labels_v, Shape{kN});
  const Buffer eps = test::random_buffer(be, Shape{kN * kC, kK}, 5, 1.5);
  ssvae.set_noise(eps.tensor());
  Workspace ws(be.allocator());
  nn::ModelContext ctx;
  Buffer acc(be.allocator(), Shape{2}, DType::f64);
  const nn::ModelInput in{x.tensor(), {}, {}};
  auto run = [&](bool grads) {
    ws.reset();
    be.fill(acc, 0.0);
    nn::Exec ex{be, ws, nn::Pass{true, 4}};
    kernels::LossArgs args;
    args.grad_scale = 1.0 / kN;
    ssvae.forward_objective(ex, in, labels.tensor(), args, acc, ctx);
    if (grads) ssvae.backward(ex, ctx, Tensor{});
    const std::vector<double> a = be.read<double>(acc);
    CHECK(a[1] == kN);
    return a[0] / kN;
  };
  std::vector<std::int64_t> offsets;
  model->set_grad_ready_hook([&](std::int64_t offset) { offsets.push_back(offset); });
  store.zero_grads(be);
  const double objective = run(true);
  CHECK(std::isfinite(objective));
  REQUIRE(!offsets.empty());
  CHECK(offsets.back() == 0);
  std::vector<std::vector<double>> analytic;
  for (std::size_t p = 0; p < store.entries().size(); ++p)
    analytic.push_back(test::to_vector(be, store.grad(static_cast<params::ParamId>(p))));
  if (const char* path = std::getenv("HPCT_SSVAE_DUMP"); path && *path && recon == "bernoulli") {
    std::ofstream out(path);
    out << "meta " << kC << " " << kK << " " << 0.7 << " " << recon << "\n";
    dump(out, "x", xv, Shape{kN, kF});
    dump(out, "labels", std::vector<double>(labels_v.begin(), labels_v.end()), Shape{kN});
    dump(out, "eps", test::to_vector(be, eps.tensor()), Shape{kN * kC, kK});
    dump(out, "objective", {objective}, Shape{1});
    for (std::size_t p = 0; p < store.entries().size(); ++p) {
      const auto& e = store.entries()[p];
      const auto id = static_cast<params::ParamId>(p);
      dump(out, "param:" + e.name, test::to_vector(be, store.param(id)), store.param(id).shape);
      dump(out, "grad:" + e.name, analytic[p], store.param(id).shape);
    }
  }
  auto f = [&] { return run(false); };
  double worst = 0;
  for (std::size_t p = 0; p < store.entries().size(); ++p) {
    const auto id = static_cast<params::ParamId>(p);
    CAPTURE(store.entries()[p].name);
    const double err = test::rel_error(analytic[p], test::numeric_gradient(be, store.param(id), f));
    worst = std::max(worst, err);
    CHECK(err < 1e-6);
  }
  if (std::getenv("HPCT_FD_REPORT")) std::printf("fd ssvae %-10s worst rel.err %.2e\n", recon.c_str(), worst);
}

}  // namespace

TEST_CASE("ssvae: the whole objective matches finite differences with the noise fixed (bernoulli)") {
  check_ssvae("bernoulli");
}

TEST_CASE("ssvae: the whole objective matches finite differences with the noise fixed (gaussian)") {
  check_ssvae("gaussian");
}

// normal_fill's row keys draw, in one call, what one call per row with the row's own noise stream drew
// (the ssvae's noise before row keys): the same numbers, bit for bit.
TEST_CASE("ssvae: row-keyed normal_fill equals one normal_fill per row of its noise stream") {
  kernels::Backend& be = test::test_backend();
  const std::int64_t rows = 4, per_row = 3 * 5;  // C = 3 classes x K = 5 latents per data-set row
  const std::vector<std::int64_t> ids{12, 0, 7, 1000000};
  Buffer row_ids(be.allocator(), Shape{rows}, DType::i64), all(be.allocator(), Shape{rows * 3, 5}, DType::f32),
      one(be.allocator(), Shape{3, 5}, DType::f32);
  test::write(be, row_ids, ids);
  be.normal_fill(all, 9, nn::Ssvae::noise_stream(6), row_ids);
  const std::vector<float> got = be.read<float>(all);
  for (std::int64_t r = 0; r < rows; ++r) {
    be.normal_fill(one, 9, nn::Ssvae::noise_stream(6, ids[static_cast<std::size_t>(r)]));
    const std::vector<float> want = be.read<float>(one);
    CHECK(std::equal(want.begin(), want.end(), got.begin() + r * per_row));
  }
  test::check_throws_with([&] { be.normal_fill(all, 9, nn::Ssvae::noise_stream(6, 3), row_ids); }, "bits 32-61");
}

TEST_CASE("ssvae: Philox normal noise is a function of seed and stream with mean 0 and variance 1") {
  kernels::Backend& be = test::test_backend();
  Buffer a(be.allocator(), Shape{100000}, DType::f32), b(be.allocator(), Shape{100000}, DType::f32);
  be.normal_fill(a, 7, nn::Ssvae::noise_stream(3));
  be.normal_fill(b, 7, nn::Ssvae::noise_stream(3));
  const std::vector<float> va = be.read<float>(a), vb = be.read<float>(b);
  CHECK(va == vb);
  be.normal_fill(b, 7, nn::Ssvae::noise_stream(4));
  CHECK(va != be.read<float>(b));
  double m = 0, v = 0;
  for (float x : va) m += x;
  m /= static_cast<double>(va.size());
  for (float x : va) v += (x - m) * (x - m);
  v /= static_cast<double>(va.size());
  CHECK(std::fabs(m) < 0.01);
  CHECK(std::fabs(v - 1.0) < 0.02);
}

TEST_CASE("ssvae: bad options are errors naming the option") {
  kernels::Backend& be = test::test_backend();
  nn::ModelSpec s = ssvae_spec("poisson");
  CHECK_THROWS_WITH(nn::build_model(s, be, 1), doctest::Contains("option model.recon: unknown reconstruction 'poisson'"));
  s = ssvae_spec("bernoulli");
  s.latent = 0;
  CHECK_THROWS_WITH(nn::build_model(s, be, 1), doctest::Contains("option model.latent: must be positive, got 0"));
  s = ssvae_spec("bernoulli");
  s.alpha = -1;
  CHECK_THROWS_WITH(nn::build_model(s, be, 1), doctest::Contains("option model.alpha"));
  s = ssvae_spec("bernoulli");
  CHECK_THROWS_WITH(nn::build_model(s, be, 1, DType::bf16), doctest::Contains("fp32 only"));
}
