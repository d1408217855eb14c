#pragma once
// Where the features of a training row come from: a data set held in memory, or the HDF5 file itself,
// read on demand (--data.stream), so that in training a rank reads only the rows it trains on (the
// streamed standardisation pass reads each rank's share of row chunks once).
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "data/dataset.hpp"
#include "data/hdf5.hpp"

namespace hpct::data {

class RowSource {
 public:
  virtual ~RowSource() = default;
  virtual std::int64_t rows() const = 0;
  virtual std::int64_t width() const = 0;  // floats per row
  // out[i, :] = row rows[i] for i < n (indices may repeat and come in any order). Safe to call from
  // several loader threads at once.
  virtual void read(const std::int64_t* rows, std::int64_t n, float* out) const = 0;
};

// The rows of d.x: F floats per row, L * F for sequences, none for token data.
class MemoryRows final : public RowSource {
 public:
  explicit MemoryRows(const Dataset& d) : d_(d) {}
  std::int64_t rows() const override { return d_.n; }
  std::int64_t width() const override { return d_.row_width(); }
  void read(const std::int64_t* rows, std::int64_t n, float* out) const override;

 private:
  const Dataset& d_;
};

// Rows of /X read from an HDF5 file: row i of this source is row file_rows[i] of the file (the
// training split of a file is a subset of its rows). Tabular /X [N, F] rows are F floats; sequence
// rows of /X [N, L, F] are L F floats, of which the positions at or past the row's length (lengths,
// indexed by file row; empty: all L valid) read as 0 whatever the file holds there, as read_dataset
// reads them. Valid values are checked finite (errors name the file, row, position and column) and
// then passed through `transform` (standardisation), when set. Debian's HDF5 is built without thread
// safety, so every HDF5 call of every reader holds one process-wide lock.
class Hdf5Rows final : public RowSource {
 public:
  using Transform = std::function<void(float* x, std::int64_t rows)>;
  // Opens the file and checks /X: numeric, 2-D or 3-D, file_rows in range, lengths (when given) one
  // per file row of a 3-D /X.
  Hdf5Rows(const std::string& path, std::vector<std::int64_t> file_rows, std::vector<std::int32_t> lengths = {});
  std::int64_t rows() const override { return static_cast<std::int64_t>(file_rows_.size()); }
  std::int64_t width() const override { return width_; }
  void read(const std::int64_t* rows, std::int64_t n, float* out) const override;
  void set_transform(Transform t) { transform_ = std::move(t); }
  void read_all(float* out) const;  // every row, in order
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::vector<std::int64_t> file_rows_;
  std::vector<std::int32_t> lengths_;
  std::int64_t width_ = 0;
  std::int64_t positions_ = 1, features_ = 0;  // L and F of a 3-D /X; 1 and F for tabular rows
  h5::File file_;
  Transform transform_;
};

// The lock every thread holds around HDF5 calls that may run concurrently (loader threads).
std::mutex& hdf5_lock();

}  // namespace hpct::data
