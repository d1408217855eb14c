#pragma once
// A supervised data set held in host memory, and its HDF5 layout.
//
// Inputs, exactly one of:
//   /X       float32 [N, F]         tabular features (MLP)
//   /X       float32 [N, L, F]      sequences of per-position features (one-hot, substitution-matrix
//                                   rows, precomputed embeddings)
//   /tokens  integer [N, L]         sequences of token ids in [0, vocab_size), with the root attribute
//                                   "vocab_size" (int, required)
//   /lengths integer [N]            sequence data only: valid positions of each row, each in [1, L];
//                                   absent = every row has all L. Positions >= length are padding: the
//                                   file may hold anything there, the reader sets them to 0 (/X,
//                                   /tokens, float /y) and -1 (labels), and checks nothing there.
// Targets /y, per row ("sequence" level, as for tabular data) or per position ("token" level):
//   float32 [N] or [N, T]           regression targets, or binary labels 0/1 (task "binary")
//   integer [N]                     class labels 0..C-1 (task "classification")
//   float32 [N, L] or [N, L, T]     token level: regression targets / binary labels per position
//   integer [N, L]                  token level: class labels per position; -1 = no label (ignored by
//                                   the loss and metrics; padding always reads as -1)
//   root attribute "target_level" (string): "sequence" | "token". When absent it is inferred: token
//   when the data are sequences and /y's shape begins [N, L], else sequence. (So float /y [N, T]
//   with T == L on sequence data needs target_level = "sequence".) Tabular data are always sequence
//   level. write_dataset writes the attribute for sequence data with targets.
//   root attribute "task" (string): "regression" | "binary" | "classification"; when absent it is
//   inferred: integer /y -> classification, float /y -> regression.
//   root attribute "num_classes" (int, classification only; default max label + 1).
// Generators may add ground-truth datasets (/f, /sigma, /p_optimal) that training ignores.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace hpct::data {

enum class Task { regression, binary, classification };
Task parse_task(const std::string& name);  // throws naming the value
std::string to_string(Task t);

// A per-token class label that the loss and metrics skip (padding, unlabelled residues).
inline constexpr std::int32_t kIgnoreLabel = -1;

struct Dataset {
  std::string source;          // file path, for messages
  Task task = Task::regression;
  std::int64_t n = 0;          // rows
  std::int64_t seq_len = 0;    // L, positions per row of sequence data; 0 for tabular data
  std::int64_t features = 0;   // F, floats per row (tabular) or per position (sequences); 0 with tokens
  std::int64_t vocab_size = 0; // V: inputs are token ids in [0, V); 0 when the inputs are floats (x)
  std::int64_t targets = 1;    // T (1 for classification)
  std::int64_t num_classes = 0;  // C, classification only
  bool token_targets = false;  // targets per position ([n, L] labels, [n, L, T] y) instead of per row
  std::vector<float> x;        // [n, features] or [n, L, features]; empty with tokens
  std::vector<std::int32_t> tokens;   // [n, L] when vocab_size > 0
  std::vector<std::int32_t> lengths;  // [n] in [1, L], or empty: every row has all L positions
  std::vector<float> y;        // [n, targets] or, per token, [n, L, targets]; regression and binary
  std::vector<std::int32_t> labels;  // [n] or, per token, [n, L]; classification
  // Extra float datasets to write beside /X and /y (ground truth from generators), name -> values
  // with the first dimension n.
  std::vector<std::pair<std::string, std::vector<float>>> extras;

  bool is_sequence() const { return seq_len > 0; }
  bool has_tokens() const { return vocab_size > 0; }
  // The longest sequence a model must accept (L); 0 for tabular data.
  std::int64_t max_length() const { return seq_len; }
  // Valid positions of row r (L when /lengths is absent; 1 for tabular data).
  std::int64_t length(std::int64_t r) const {
    return lengths.empty() ? std::max<std::int64_t>(seq_len, 1) : lengths[static_cast<std::size_t>(r)];
  }
  // Floats of x per row: L * F for sequences, F for tabular data (0 with tokens).
  std::int64_t row_width() const { return (seq_len > 0 ? seq_len : 1) * features; }
  // Per-row class labels may be -1 (unlabelled: model ssvae only, the model setup refuses them for
  // the others): the first such row, or -1 when every row has a label.
  std::int64_t first_unlabelled_row() const {
    if (task != Task::classification || token_targets) return -1;
    for (std::size_t r = 0; r < labels.size(); ++r)
      if (labels[r] == kIgnoreLabel) return static_cast<std::int64_t>(r);
    return -1;
  }
  // Target rows per data row: L for token-level targets, else 1 (labels per row; y has T times more).
  std::int64_t target_positions() const { return token_targets ? seq_len : 1; }

  // Rows `index` (in that order) as a new Dataset (x stays empty when it is, for streamed data).
  Dataset subset(const std::vector<std::int64_t>& index) const;
};

// Reads and validates the layout above: inputs and /y present, ranks, N of every dataset equal,
// float32 X (float32/float64 accepted and converted), no NaN/Inf at valid positions (the error names
// the file, dataset, row, position and column), labels in range, token ids in [0, vocab_size)
// (naming row, position and id), lengths in [1, L] (naming the row and value). Every error message
// names the file and the dataset. With require_targets == false a file without /y is accepted
// (inputs for prediction): targets is then 0 and y and labels are empty.
// With read_features == false /X is checked (shape, type) but not read: x stays empty while features
// is set, for streamed training (data/row_source.hpp reads the rows when they are needed). Tokens
// and lengths are always read.
Dataset read_dataset(const std::string& path, bool require_targets = true, bool read_features = true);

// Writes atomically: to "<path>.tmp.<pid>", then rename, so a failure leaves no partial file. A data
// set with targets == 0 is written as inputs only (no /y, no task), for predict.
// Sizes, lengths and token ids are checked first.
void write_dataset(const std::string& path, const Dataset& d);

}  // namespace hpct::data
