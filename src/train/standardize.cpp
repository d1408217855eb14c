#include "train/standardize.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace hpct::train {
namespace {

// Column means and population standard deviations of a row-major [n, cols] array, in double.
void column_stats(const std::vector<float>& v, std::int64_t n, std::int64_t cols, std::vector<float>& mean,
                  std::vector<float>& stdev) {
  std::vector<double> sum(cols, 0.0), sq(cols, 0.0);
  for (std::int64_t r = 0; r < n; ++r)
    for (std::int64_t c = 0; c < cols; ++c) sum[c] += v[r * cols + c];
  mean.assign(cols, 0.0f);
  stdev.assign(cols, 1.0f);
  for (std::int64_t c = 0; c < cols; ++c) {
    const double mu = sum[c] / static_cast<double>(n);
    for (std::int64_t r = 0; r < n; ++r) sq[c] += (v[r * cols + c] - mu) * (v[r * cols + c] - mu);
    const double sd = std::sqrt(sq[c] / static_cast<double>(n));
    mean[c] = static_cast<float>(mu);
    stdev[c] = sd > 1e-12 ? static_cast<float>(sd) : 1.0f;  // a constant column stays as it is, shifted
  }
}

void normalise(std::vector<float>& v, std::int64_t cols, const std::vector<float>& mean,
               const std::vector<float>& stdev) {
  const std::size_t n = v.size() / static_cast<std::size_t>(cols);
  for (std::size_t r = 0; r < n; ++r)
    for (std::int64_t c = 0; c < cols; ++c) v[r * cols + c] = (v[r * cols + c] - mean[c]) / stdev[c];
}

}  // namespace

void check_standardization(const Standardization& s, std::int64_t features, std::int64_t targets,
                           const std::string& source) {
  auto check = [&](const std::vector<float>& mean, const std::vector<float>& sd, std::int64_t width,
                   const char* what) {
    HPCT_CHECK(mean.size() == sd.size() && (mean.empty() || static_cast<std::int64_t>(mean.size()) == width),
               source, ": /standardization/", what, "_mean and ", what, "_std have ", mean.size(), " and ",
               sd.size(), " values, expected 0 or ", width);
    for (std::size_t i = 0; i < sd.size(); ++i)
      HPCT_CHECK(std::isfinite(mean[i]) && std::isfinite(sd[i]) && sd[i] > 0, source, ": /standardization/", what,
                 "_std[", i, "] = ", sd[i], " is not a positive finite number");
  };
  check(s.x_mean, s.x_std, features, "x");
  check(s.y_mean, s.y_std, targets, "y");
}

Standardization fit_standardization(const data::Dataset& train, bool enabled) {
  Standardization s;
  if (!enabled) return s;
  if (!train.is_sequence()) column_stats(train.x, train.n, train.features, s.x_mean, s.x_std);
  if (train.task == data::Task::regression && !train.token_targets)
    column_stats(train.y, train.n, train.targets, s.y_mean, s.y_std);
  return s;
}

Standardization fit_standardization(const data::Dataset& train, const data::RowSource& x, dist::Communicator* comm,
                                    bool enabled) {
  Standardization s;
  if (!enabled) return s;
  // Per-position features are used as stored (fit_standardization above): only per-row targets.
  if (train.is_sequence()) return fit_standardization(train, enabled);
  const std::int64_t n = x.rows(), cols = x.width(), chunk = 4096;
  const int world = comm ? comm->size() : 1, rank = comm ? comm->rank() : 0;
  std::vector<float> shift(static_cast<std::size_t>(cols)), buf;
  const std::int64_t first = 0;
  x.read(&first, 1, shift.data());
  std::vector<double> sums(static_cast<std::size_t>(2 * cols), 0.0);  // sum (x - s), then sum (x - s)^2
  std::vector<std::int64_t> rows;
  for (std::int64_t begin = rank * chunk; begin < n; begin += world * chunk) {
    const std::int64_t count = std::min(chunk, n - begin);
    rows.resize(static_cast<std::size_t>(count));
    for (std::int64_t i = 0; i < count; ++i) rows[i] = begin + i;
    buf.resize(static_cast<std::size_t>(count * cols));
    x.read(rows.data(), count, buf.data());
    for (std::int64_t r = 0; r < count; ++r)
      for (std::int64_t c = 0; c < cols; ++c) {
        const double d = static_cast<double>(buf[r * cols + c]) - shift[c];
        sums[c] += d;
        sums[cols + c] += d * d;
      }
  }
  if (comm && world > 1)
    comm->allreduce(Tensor(sums.data(), Shape{2 * cols}, DType::f64), dist::ReduceOp::sum)->wait_host();
  s.x_mean.resize(static_cast<std::size_t>(cols));
  s.x_std.resize(static_cast<std::size_t>(cols));
  for (std::int64_t c = 0; c < cols; ++c) {
    const double m = sums[c] / static_cast<double>(n);
    const double sd = std::sqrt(std::max(sums[cols + c] / static_cast<double>(n) - m * m, 0.0));
    s.x_mean[c] = static_cast<float>(shift[c] + m);
    s.x_std[c] = sd > 1e-12 ? static_cast<float>(sd) : 1.0f;
  }
  if (train.task == data::Task::regression) column_stats(train.y, train.n, train.targets, s.y_mean, s.y_std);
  return s;
}

void standardize_features(const Standardization& s, float* x, std::int64_t rows) {
  const auto cols = static_cast<std::int64_t>(s.x_mean.size());
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) x[r * cols + c] = (x[r * cols + c] - s.x_mean[c]) / s.x_std[c];
}

void apply_standardization(const Standardization& s, data::Dataset& d) {
  if (!s.x_mean.empty()) {
    HPCT_CHECK(!d.is_sequence(), d.source, ": holds sequences, but the standardisation has feature statistics "
               "(tabular data only)");
    HPCT_CHECK(static_cast<std::int64_t>(s.x_mean.size()) == d.features, d.source, ": has ", d.features,
               " features but the model was trained on ", s.x_mean.size());
    if (!d.x.empty()) normalise(d.x, d.features, s.x_mean, s.x_std);
  }
  if (!s.y_mean.empty() && d.task == data::Task::regression && !d.y.empty()) {
    HPCT_CHECK(!d.token_targets, d.source, ": has per-token targets, but the standardisation has target "
               "statistics (per-row targets only)");
    HPCT_CHECK(static_cast<std::int64_t>(s.y_mean.size()) == d.targets, d.source, ": has ", d.targets,
               " targets but the model was trained on ", s.y_mean.size());
    normalise(d.y, d.targets, s.y_mean, s.y_std);
  }
}

}  // namespace hpct::train
