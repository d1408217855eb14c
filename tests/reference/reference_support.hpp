#pragma once
// Shared by the PyTorch reference checkers (check_*_reference.cpp).
#include <algorithm>
#include <cmath>
#include <vector>

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

}  // namespace hpct::test
