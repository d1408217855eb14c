#pragma once
// What is needed to rebuild a model: the [model] options plus the widths the data implies. Stored as
// the /model attributes of a checkpoint (one attribute per field, same names).
#include <cstdint>
#include <string>
#include <vector>

namespace hpct::nn {

struct ModelSpec {
  std::string type = "mlp";
  std::int64_t in_features = 0;
  std::int64_t out_features = 0;              // network output width (2T for gaussian-nll, C for ce)
  std::vector<std::int64_t> widths{64, 64, 64};  // hidden layer widths
  std::string activation = "gelu";
  double dropout = 0.0;
  bool layernorm = false;
  std::string loss = "mse";                   // mse | gaussian-nll | bce | ce
  std::string task = "regression";            // regression | binary | classification
  std::int64_t targets = 1;                   // T (classification: 1)
};

}  // namespace hpct::nn
