#pragma once
// Turns raw network outputs into what a user reads, in the data's original units:
//   mse           mean [n, T]                 = out * y_std + y_mean
//   gaussian-nll  mean [n, T], var [n, T]     mean as above from the first T columns; the last T are
//                                             log-variances s: var = exp(s) * y_std^2
//   bce           prob [n, T]                 = sigmoid(out)
//   ce            prob [n, C], label [n]      = softmax(out), argmax
// Per-token outputs [n, L, W] give the same per position: mean [n, L, T], prob [n, L, C], label [n, L]
// (padding positions included; metrics skip them).
#include <cstdint>
#include <vector>

#include "nn/loss.hpp"
#include "train/checkpoint.hpp"

namespace hpct::train {

struct Predictions {
  nn::LossKind loss = nn::LossKind::mse;
  std::int64_t n = 0, width = 0;  // width: T, or C for ce
  std::int64_t positions = 1;     // L for per-token outputs, else 1 (rows of the arrays: n positions)
  std::vector<float> mean, var, prob;
  std::vector<std::int32_t> label;
};

// raw: [n, positions, out_width].
Predictions interpret_outputs(nn::LossKind loss, const std::vector<float>& raw, std::int64_t n,
                              std::int64_t out_width, const Standardization& s, std::int64_t positions = 1);

}  // namespace hpct::train
