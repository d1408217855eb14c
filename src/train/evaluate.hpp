#pragma once
// Forward passes over a whole data set in evaluation mode (no dropout, no gradients).
#include <cstdint>
#include <vector>

#include "data/dataset.hpp"
#include "nn/loss.hpp"
#include "nn/model.hpp"

namespace hpct::train {

struct Evaluation {
  nn::LossValue loss;           // zero count when the data set has no targets
  std::vector<float> raw;       // network outputs [n, out_width], or per token [n, L, out_width]
  std::int64_t positions = 1;   // output rows per sample: L for per-token models, else 1
};

// Output rows per sample of `model` on data `d`: d's L for per-token models, else 1.
std::int64_t output_positions(const nn::Model& model, const data::Dataset& d);

Evaluation evaluate(kernels::Backend& be, nn::Model& model, nn::LossKind loss, const data::Dataset& d,
                    std::int64_t batch_size);

}  // namespace hpct::train
