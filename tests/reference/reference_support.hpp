#pragma once
// Shared by the PyTorch reference checkers (check_*_reference.cpp).
#include <algorithm>
#include <cmath>
#include <vector>

#include "data/hdf5.hpp"
#include "optim/optimizer.hpp"

namespace hpct::test {

// ||a - b|| / ||b|| over b.size() elements, in double: the per-tensor error every checker reports.
inline double rel_error(const float* a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < b.size(); ++i) {
    num += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    den += static_cast<double>(b[i]) * b[i];
  }
  return std::sqrt(num) / std::max(std::sqrt(den), 1e-30);
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
