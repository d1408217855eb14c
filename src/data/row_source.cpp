#include "data/row_source.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "core/error.hpp"

namespace hpct::data {

std::mutex& hdf5_lock() {
  static std::mutex m;
  return m;
}

void MemoryRows::read(const std::int64_t* rows, std::int64_t n, float* out) const {
  const std::int64_t w = d_.row_width();
  for (std::int64_t i = 0; i < n; ++i) {
    HPCT_CHECK(rows[i] >= 0 && rows[i] < d_.n, d_.source, ": row index ", rows[i], " out of range [0, ", d_.n, ")");
    if (w > 0) std::memcpy(out + i * w, d_.x.data() + rows[i] * w, static_cast<std::size_t>(w) * sizeof(float));
  }
}

Hdf5Rows::Hdf5Rows(const std::string& path, std::vector<std::int64_t> file_rows, std::vector<std::int32_t> lengths)
    : path_(path), file_rows_(std::move(file_rows)), lengths_(std::move(lengths)) {
  std::lock_guard<std::mutex> lock(hdf5_lock());
  file_ = h5::File::open_read(path);
  HPCT_CHECK(h5::is_dataset(file_, "/X"), path, ": no dataset /X");
  const h5::DatasetInfo info = h5::dataset_info(file_, "/X");
  HPCT_CHECK(info.shape.size() == 2 || info.shape.size() == 3, path,
             ": dataset /X: expected 2 dimensions [N, F] or 3 [N, L, F], found ", info.shape.size());
  HPCT_CHECK(info.type == h5::TypeClass::floating || info.type == h5::TypeClass::integer, path,
             ": dataset /X: expected numbers, found ", h5::to_string(info.type));
  positions_ = info.shape.size() == 3 ? info.shape[1] : 1;
  features_ = info.shape.back();
  width_ = positions_ * features_;
  HPCT_CHECK(lengths_.empty() || (info.shape.size() == 3 && static_cast<std::int64_t>(lengths_.size()) == info.shape[0]),
             path, ": ", lengths_.size(), " lengths given for a ", info.shape.size(), "-D /X of ", info.shape[0],
             " rows (one per row of a 3-D /X)");
  for (std::int64_t r : file_rows_)
    HPCT_CHECK(r >= 0 && r < info.shape[0], path, ": row ", r, " is outside /X's ", info.shape[0], " rows");
}

// The requested rows are read once each, in file order (one hyperslab union), then placed where
// they were asked for; repeats (padding) are copies.
void Hdf5Rows::read(const std::int64_t* rows, std::int64_t n, float* out) const {
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  auto file_row = [&](std::int64_t i) {
    HPCT_CHECK(rows[i] >= 0 && rows[i] < this->rows(), path_, ": row index ", rows[i], " out of range");
    return file_rows_[static_cast<std::size_t>(rows[i])];
  };
  std::sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) { return file_row(a) < file_row(b); });
  std::vector<std::int64_t> unique;
  std::vector<std::int64_t> slot(static_cast<std::size_t>(n));  // position of request i in `unique`
  for (std::int64_t i : order) {
    if (unique.empty() || unique.back() != file_row(i)) unique.push_back(file_row(i));
    slot[static_cast<std::size_t>(i)] = static_cast<std::int64_t>(unique.size()) - 1;
  }
  std::vector<float> buf(unique.size() * static_cast<std::size_t>(width_));
  {
    std::lock_guard<std::mutex> lock(hdf5_lock());
    h5::read_float_rows(file_, "/X", unique, buf.data());
  }
  for (std::size_t u = 0; u < unique.size(); ++u) {
    float* row = buf.data() + u * static_cast<std::size_t>(width_);
    const std::int64_t valid =
        lengths_.empty() ? positions_ : lengths_[static_cast<std::size_t>(unique[u])];
    for (std::int64_t c = 0; c < valid * features_; ++c)
      HPCT_CHECK(std::isfinite(row[c]), path_, ": /X row ", unique[u],
                 positions_ > 1 ? cat(" position ", c / features_) : std::string(), " column ", c % features_, " is ",
                 std::isnan(row[c]) ? "NaN" : "Inf (or beyond float32 range)");
    std::fill(row + valid * features_, row + width_, 0.0f);  // padding
  }
  for (std::int64_t i = 0; i < n; ++i)
    std::memcpy(out + i * width_, buf.data() + slot[static_cast<std::size_t>(i)] * width_,
                static_cast<std::size_t>(width_) * sizeof(float));
  if (transform_) transform_(out, n);
}

void Hdf5Rows::read_all(float* out) const {
  std::vector<std::int64_t> all(file_rows_.size());
  std::iota(all.begin(), all.end(), 0);
  read(all.data(), rows(), out);
}

}  // namespace hpct::data
