#pragma once
// A supervised data set held in host memory, and its HDF5 layout:
//   /X  float32 [N, F]                 features
//   /y  float32 [N] or [N, T]          regression targets, or binary labels 0/1 (task "binary")
//       int32/int64 [N]                class labels 0..C-1 (task "classification")
//   root attribute "task" (string): "regression" | "binary" | "classification"; when absent it is
//   inferred: integer /y -> classification, float /y -> regression.
//   root attribute "num_classes" (int, classification only; default max label + 1).
// Generators may add ground-truth datasets (/f, /sigma, /p_optimal) that training ignores.
#include <cstdint>
#include <string>
#include <vector>

namespace hpct::data {

enum class Task { regression, binary, classification };
Task parse_task(const std::string& name);  // throws naming the value
std::string to_string(Task t);

struct Dataset {
  std::string source;          // file path, for messages
  Task task = Task::regression;
  std::int64_t n = 0;          // rows
  std::int64_t features = 0;   // F
  std::int64_t targets = 1;    // T (1 for classification)
  std::int64_t num_classes = 0;  // C, classification only
  std::vector<float> x;        // [n, features]
  std::vector<float> y;        // [n, targets]; regression and binary
  std::vector<std::int32_t> labels;  // [n]; classification
  // Extra float datasets to write beside /X and /y (ground truth from generators), name -> values
  // with the first dimension n.
  std::vector<std::pair<std::string, std::vector<float>>> extras;

  // Rows `index` (in that order) as a new Dataset (x stays empty when it is, for streamed data).
  Dataset subset(const std::vector<std::int64_t>& index) const;
};

// Reads and validates: /X and /y present, 2-D X, matching N, float32 X (float32/float64 accepted and
// converted), no NaN/Inf (the error names the file, dataset, row and column), labels in range.
// Every error message names the file and the dataset. With require_targets == false a file without
// /y is accepted (inputs for prediction): targets is then 0 and y and labels are empty.
// With read_features == false /X is checked (shape, type) but not read: x stays empty while features
// is set, for streamed training (data/row_source.hpp reads the rows when they are needed).
Dataset read_dataset(const std::string& path, bool require_targets = true, bool read_features = true);

// Writes atomically: to "<path>.tmp.<pid>", then rename, so a failure leaves no partial file.
void write_dataset(const std::string& path, const Dataset& d);

}  // namespace hpct::data
