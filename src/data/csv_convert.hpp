#pragma once
// CSV -> Dataset. The first row is a header of column names; every other row has the same number of
// comma-separated numeric fields (surrounding spaces and double quotes are stripped).
#include <string>
#include <vector>

#include "data/dataset.hpp"

namespace hpct::data {

struct CsvOptions {
  std::vector<std::string> targets;   // target column names (at least one)
  std::vector<std::string> features;  // feature columns; empty = every non-target column
  std::string task = "regression";    // regression | binary | classification (integer labels)
};

// Errors name the file, line and column: a missing or unknown column, a non-numeric or non-finite
// value, a row with the wrong number of fields, an empty file.
Dataset read_csv(const std::string& path, const CsvOptions& opt);

}  // namespace hpct::data
