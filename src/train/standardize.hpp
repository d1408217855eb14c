#pragma once
// Feature and target standardisation: z = (v - mean) / std per column, with mean and std computed on
// the training split only and saved in the checkpoint, so validation, prediction and a resumed run
// see exactly the same transform.
// Sequence data: never standardised here. Token ids are categories; per-position float features
// (one-hot, substitution rows, embeddings) are used as they are (the model's LayerNorm scales them);
// per-token targets likewise. Per-row regression targets of sequence data are standardised as usual.
#include "data/dataset.hpp"
#include "data/row_source.hpp"
#include "parallel/communicator.hpp"
#include "train/checkpoint.hpp"

namespace hpct::train {

// Per-column mean and std (population) of x, and of y for regression; constant columns get std 1.
// With enabled == false: empty vectors (the identity).
Standardization fit_standardization(const data::Dataset& train, bool enabled);

// The same statistics with the features streamed from x (rows of train): rank r reads row chunks
// r, r + p, r + 2p, ... only, and the sums, shifted by the first row for accuracy
// (var = E[(x - s)^2] - E[x - s]^2), are reduced over comm. Targets come from train, in memory.
Standardization fit_standardization(const data::Dataset& train, const data::RowSource& x, dist::Communicator* comm,
                                    bool enabled);

// In place on `rows` feature rows: x <- (x - x_mean) / x_std (streamed batches).
void standardize_features(const Standardization& s, float* x, std::int64_t rows);

// Checks a loaded standardisation: x_* empty or [features], y_* empty or [targets], std finite and
// positive; errors name the file.
void check_standardization(const Standardization& s, std::int64_t features, std::int64_t targets,
                           const std::string& source);

// In place: x <- (x - x_mean) / x_std, and y likewise for regression. Checks widths, naming `what`.
void apply_standardization(const Standardization& s, data::Dataset& d);

}  // namespace hpct::train
