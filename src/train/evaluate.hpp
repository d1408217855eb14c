#pragma once
// Forward passes over a whole data set in evaluation mode (no dropout, no gradients).
#include <cstdint>
#include <vector>

#include "data/dataset.hpp"
#include "nn/loss.hpp"
#include "nn/model.hpp"

namespace hpct::train {

struct Evaluation {
  nn::LossValue loss;      // zero count when the data set has no targets
  std::vector<float> raw;  // network outputs [n, out_width]
};

Evaluation evaluate(kernels::Backend& be, nn::Model& model, nn::LossKind loss, const data::Dataset& d,
                    std::int64_t batch_size);

}  // namespace hpct::train
