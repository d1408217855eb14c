#pragma once
// Shared by the PyTorch reference checkers (check_*_reference.cpp): the per-tensor error, the loss as the
// trainer differentiates it, and the reference's optimizer settings. The checkers run on the unit tests'
// backend (test::test_backend(): HPCTRAIN_TEST_DEVICE or HPCTRAIN_DEVICE, cpu by default) and move data with
// their helpers (test::upload, Backend::read).
#include <algorithm>
#include <cmath>
#include <vector>

#include "data/hdf5.hpp"
#include "kernels/kernels.hpp"
#include "nn/loss.hpp"
#include "optim/optimizer.hpp"
#include "../unit/nn_test_support.hpp"

namespace hpct::test {

// ||a - b|| / ||b|| over b.size() elements, in double: the per-tensor error every checker reports.
inline double rel_error(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < b.size(); ++i) {
    num += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    den += static_cast<double>(b[i]) * b[i];
  }
  return std::sqrt(num) / std::max(std::sqrt(den), 1e-30);
}

// The mean loss of `out` as the trainer takes its gradient: d(mean)/d(out) into dout (lengths, i32 on
// the device or empty, mask per-token float losses).
inline double mean_loss(kernels::Backend& be, nn::LossKind kind, const Tensor& out, const Tensor& target,
                        const Tensor& dout, const Tensor& lengths = {}) {
  kernels::LossArgs args;
  args.lengths = lengths;
  args.mean = true;
  return nn::loss_value(be, kind, out, target, dout, args).mean();
}

// The AdamW settings the reference used, from the attributes of /after_adamw.
inline optim::OptimizerOptions adamw_options(const data::h5::File& ref) {
  namespace h5 = data::h5;
  optim::OptimizerOptions o;
  o.name = "adamw";
  o.lr = h5::read_double_attr(ref, "/after_adamw", "lr");
  o.beta1 = h5::read_double_attr(ref, "/after_adamw", "beta1");
  o.beta2 = h5::read_double_attr(ref, "/after_adamw", "beta2");
  o.eps = h5::read_double_attr(ref, "/after_adamw", "eps");
  o.weight_decay = h5::read_double_attr(ref, "/after_adamw", "weight_decay");
  return o;
}

}  // namespace hpct::test
