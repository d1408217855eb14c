#pragma once
// The HDF5 checkpoint file: the model's named parameters, how to rebuild the model, the resolved
// configuration and the data standardisation. Layout (version 1):
//   /                attrs: format = "hpctrain-checkpoint", version = 1 (int64),
//                           config = resolved configuration (INI text), epoch, step (int64)
//   /model           attrs: one per ModelSpec field (strings, int64, double; int64 arrays for lists)
//   /params/<name>   float32, the parameter's shape (names as a PyTorch state_dict: layers.0.weight)
//   /standardization x_mean [F], x_std [F], y_mean [T], y_std [T]  (float32; empty when off)
// Periodic checkpoints (RUN/checkpoints/step-XXXXXXXX.h5) add what a resume needs:
//   /train           attrs: epoch, micro, step, micro_steps, data_seed (int64; the seed's bits),
//                           math (the options that change the math, "name = value" lines),
//                           math_hash (int64, FNV-1a of math), history_columns (comma-separated)
//   /train/scaler    float64 [7] kernels::ScalerState ([5] before the skip streaks);  /train/epoch_loss float64 [2] {sum, count}
//   /train/history   float64 [rows, columns]: the metrics rows so far (absent before the first)
//   /optimizer/<name> float32: Optimizer::state(), flat, in its order
// Every dataset carries a `checksum` attribute (int64, FNV-1a 64 of its values' bytes), verified on
// load; files without one (written before it existed) load unverified.
// Files are written to "<path>.tmp.<pid>" and renamed, so a failure leaves no partial checkpoint.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "train/train_state.hpp"

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
  // A periodic checkpoint's training part; absent from the final model.h5.
  struct Resume {
    TrainState state;
    std::vector<NamedArray> optimizer;  // Optimizer::state(), flat, in its order
    std::string math;                   // "name = value" lines of the options that change the math
  };
  std::optional<Resume> resume;
};

void save_checkpoint(const std::string& path, const CheckpointData& ckpt);
// Errors name the file and what is missing or malformed (not a checkpoint, unknown version, ...).
// A dataset whose checksum does not match is reported as corrupt.
CheckpointData load_checkpoint(const std::string& path);

// FNV-1a 64 of a byte range: the checksum of datasets and of the math options.
std::uint64_t fnv1a(const void* data, std::size_t bytes);

// RUN/checkpoints holds step-XXXXXXXX.h5 files and `latest`, the name of the newest one.
std::string checkpoints_dir(const std::string& run_dir);
// Writes ckpt (which must have its resume part) as RUN/checkpoints/step-<step>.h5, points latest at
// it (each written to a temporary file, flushed to disk and renamed), then deletes all but the newest
// `keep` step files. Returns the file written.
std::string save_periodic_checkpoint(const std::string& run_dir, const CheckpointData& ckpt, std::int64_t keep);
struct LoadedCheckpoint {
  std::string path;
  CheckpointData data;
};
// The newest complete checkpoint of RUN: latest's file when it loads and verifies, else, with a
// warning naming what failed, the newest step file that does; nullopt when there is none.
std::optional<LoadedCheckpoint> load_latest_checkpoint(const std::string& run_dir);
// Deletes the step files after `step`: the abandoned future of a run resumed from an earlier one.
void drop_checkpoints_after(const std::string& run_dir, std::int64_t step);

}  // namespace hpct::train
