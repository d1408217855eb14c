#pragma once
// Forward passes over a whole data set in evaluation mode (no dropout, no gradients).
#include <cstdint>
#include <vector>

#include "core/workspace.hpp"
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

// `ws`: a workspace to run the batches in (the trainer's, whose arena already holds a training step's
// activations and gradients, so validation allocates none); a workspace of its own when null.
Evaluation evaluate(kernels::Backend& be, nn::Model& model, nn::LossKind loss, const data::Dataset& d,
                    std::int64_t batch_size, Workspace* ws = nullptr);

}  // namespace hpct::train
