#pragma once
// Any file -> the byte-level next-token layout (convert --text). The bytes b[0..S) become rows of
// L consecutive input tokens, non-overlapping: row r holds tokens b[rL .. rL + L) and per-token
// labels b[rL + 1 .. rL + L + 1), the byte that follows each one. The inputs cover b[0 .. S-1) (the
// last byte is only a label), so N = ceil((S - 1) / L) and the last row may be shorter (/lengths;
// its padding is token 0, label -1). vocab_size = num_classes = 256, task classification,
// target_level token. The file is reproduced by the valid tokens of rows 0..N-1 followed by the
// label of the very last valid position.
#include <cstdint>
#include <string>

#include "data/dataset.hpp"

namespace hpct::data {

// Errors name the file: not readable (missing, a directory, no permission), empty, or a single byte
// (nothing to predict); and the option when seq_len < 2.
Dataset read_text(const std::string& path, std::int64_t seq_len);

}  // namespace hpct::data
