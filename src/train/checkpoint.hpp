#pragma once
// The HDF5 checkpoint file: the model's named parameters, how to rebuild the model, the resolved
// configuration and the data standardisation. Layout (version 1):
//   /                attrs: format = "hpctrain-checkpoint", version = 1 (int64),
//                           config = resolved configuration (INI text), epoch, step (int64)
//   /model           attrs: one per ModelSpec field (strings, int64, double; int64 arrays for lists)
//   /params/<name>   float32, the parameter's shape (names as a PyTorch state_dict: layers.0.weight)
//   /standardization x_mean [F], x_std [F], y_mean [T], y_std [T]  (float32; empty when off)
// Files are written to "<path>.tmp.<pid>" and renamed, so a failure leaves no partial checkpoint.
#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace hpct::train {

using AttrValue = std::variant<std::string, std::int64_t, double, std::vector<std::int64_t>>;

struct NamedArray {
  std::string name;
  std::vector<std::int64_t> shape;
  std::vector<float> values;
};

struct Standardization {
  std::vector<float> x_mean, x_std, y_mean, y_std;
};

struct CheckpointData {
  std::string config;                         // resolved INI text
  std::int64_t epoch = 0, step = 0;
  std::map<std::string, AttrValue> model;     // /model attributes
  std::vector<NamedArray> params;             // in model order
  Standardization standardization;
};

void save_checkpoint(const std::string& path, const CheckpointData& ckpt);
// Errors name the file and what is missing or malformed (not a checkpoint, unknown version, ...).
CheckpointData load_checkpoint(const std::string& path);

}  // namespace hpct::train
