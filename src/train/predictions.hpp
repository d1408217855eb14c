#pragma once
// Turns raw network outputs into what a user reads, in the data's original units:
//   mse           mean [n, T]                 = out * y_std + y_mean
//   gaussian-nll  mean [n, T], var [n, T]     mean as above from the first T columns; the last T are
//                                             log-variances s: var = exp(s) * y_std^2
//   bce           prob [n, T]                 = sigmoid(out)
//   ce            prob [n, C], label [n]      = softmax(out), argmax
#include <cstdint>
#include <vector>

#include "nn/loss.hpp"
#include "train/checkpoint.hpp"

namespace hpct::train {

struct Predictions {
  nn::LossKind loss = nn::LossKind::mse;
  std::int64_t n = 0, width = 0;  // width: T, or C for ce
  std::vector<float> mean, var, prob;
  std::vector<std::int32_t> label;
};

Predictions interpret_outputs(nn::LossKind loss, const std::vector<float>& raw, std::int64_t n,
                              std::int64_t out_width, const Standardization& s);

}  // namespace hpct::train
