#include "data/dataset.hpp"

#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "data/hdf5.hpp"

namespace hpct::data {
namespace {

const char* non_finite_name(double v) {
  if (std::isnan(v)) return "NaN";
  return v > 0 ? "Inf" : "-Inf";
}

// "row 17 column 3" for a 2-D dataset, "row 17" for a 1-D one.
std::string cell(std::int64_t idx, std::int64_t cols, bool two_d) {
  return two_d ? cat("row ", idx / cols, " column ", idx % cols) : cat("row ", idx);
}

// Reads a numeric dataset as float32 and rejects NaN/Inf, naming the row and column. float64 data
// is checked before narrowing, so a value beyond float32 range is reported as such, not as Inf.
std::vector<float> read_finite(const h5::File& f, const std::string& name,
                               const h5::DatasetInfo& info) {
  const std::int64_t cols = info.shape.size() == 2 ? info.shape[1] : 1;
  const bool two_d = info.shape.size() == 2;
  if (info.type == h5::TypeClass::floating && info.type_size > sizeof(float)) {
    const std::vector<double> v = h5::read_double(f, name);
    std::vector<float> out(v.size());
    const double fmax = std::numeric_limits<float>::max();
    for (std::size_t k = 0; k < v.size(); ++k) {
      const auto idx = static_cast<std::int64_t>(k);
      HPCT_CHECK(std::isfinite(v[k]), f.path(), ": ", name, " ", cell(idx, cols, two_d),
                 " is ", non_finite_name(v[k]));
      HPCT_CHECK(std::fabs(v[k]) <= fmax, f.path(), ": ", name, " ", cell(idx, cols, two_d),
                 " is ", v[k], ", beyond float32 range");
      out[k] = static_cast<float>(v[k]);
    }
    return out;
  }
  std::vector<float> v = h5::read_float(f, name);
  for (std::size_t k = 0; k < v.size(); ++k) {
    const auto idx = static_cast<std::int64_t>(k);
    HPCT_CHECK(std::isfinite(v[k]), f.path(), ": ", name, " ", cell(idx, cols, two_d), " is ",
               non_finite_name(v[k]));
  }
  return v;
}

void require_numeric(const h5::File& f, const std::string& name, const h5::DatasetInfo& info) {
  HPCT_CHECK(info.type == h5::TypeClass::floating || info.type == h5::TypeClass::integer, f.path(),
             ": dataset ", name, ": expected numbers (float32, float64 or integer), found ",
             h5::to_string(info.type));
}

std::string shape_string(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += cat(i ? ", " : "", shape[i]);
  return s + "]";
}

}  // namespace

Task parse_task(const std::string& name) {
  if (name == "regression") return Task::regression;
  if (name == "binary") return Task::binary;
  if (name == "classification") return Task::classification;
  fail("unknown task '", name, "' (expected regression, binary or classification)");
}

std::string to_string(Task t) {
  switch (t) {
    case Task::regression: return "regression";
    case Task::binary: return "binary";
    case Task::classification: return "classification";
  }
  return "unknown";
}

Dataset Dataset::subset(const std::vector<std::int64_t>& index) const {
  Dataset out;
  out.source = source;
  out.task = task;
  out.n = static_cast<std::int64_t>(index.size());
  out.features = features;
  out.targets = targets;
  out.num_classes = num_classes;
  const auto copy_rows = [&](const auto& src, auto& dst, std::int64_t width) {
    dst.resize(index.size() * static_cast<std::size_t>(width));
    for (std::size_t r = 0; r < index.size(); ++r) {
      const auto from = src.begin() + index[r] * width;
      std::copy(from, from + width, dst.begin() + static_cast<std::int64_t>(r) * width);
    }
  };
  for (auto i : index)
    HPCT_CHECK(i >= 0 && i < n, source, ": row index ", i, " out of range [0, ", n, ")");
  if (!x.empty()) copy_rows(x, out.x, features);
  if (task == Task::classification)
    copy_rows(labels, out.labels, 1);
  else
    copy_rows(y, out.y, targets);
  for (const auto& [name, values] : extras) {
    const std::int64_t width = n > 0 ? static_cast<std::int64_t>(values.size()) / n : 0;
    std::vector<float> picked;
    copy_rows(values, picked, width);
    out.extras.emplace_back(name, std::move(picked));
  }
  return out;
}

Dataset read_dataset(const std::string& path, bool require_targets, bool read_features) {
  const h5::File f = h5::File::open_read(path);
  Dataset d;
  d.source = path;

  const bool has_targets = require_targets || h5::exists(f, "/y");
  for (const char* name : {"/X", "/y"}) {
    if (!has_targets && std::string(name) == "/y") continue;
    HPCT_CHECK(h5::exists(f, name), path, ": no dataset ", name);
    HPCT_CHECK(h5::is_dataset(f, name), path, ": ", name, " is not a dataset");
  }
  const h5::DatasetInfo xi = h5::dataset_info(f, "/X");
  HPCT_CHECK(xi.shape.size() == 2, path, ": dataset /X: expected 2 dimensions [N, F], found ",
             xi.shape.size());
  require_numeric(f, "/X", xi);
  d.n = xi.shape[0];
  d.features = xi.shape[1];
  HPCT_CHECK(d.n > 0, path, ": dataset /X has no rows (N = 0)");
  HPCT_CHECK(d.features > 0, path, ": dataset /X has no feature columns (F = 0)");
  if (!has_targets) {  // inputs only (prediction)
    d.targets = 0;
    if (read_features) d.x = read_finite(f, "/X", xi);
    return d;
  }

  const h5::DatasetInfo yi = h5::dataset_info(f, "/y");
  HPCT_CHECK(yi.shape.size() == 1 || yi.shape.size() == 2, path,
             ": dataset /y: expected 1 or 2 dimensions [N] or [N, T], found ", yi.shape.size());
  require_numeric(f, "/y", yi);
  HPCT_CHECK(yi.shape[0] == d.n, path, ": /y has ", yi.shape[0], " rows but /X has ", d.n);
  d.targets = yi.shape.size() == 2 ? yi.shape[1] : 1;
  HPCT_CHECK(d.targets > 0, path, ": dataset /y has no target columns (T = 0)");

  if (h5::has_attr(f, "/", "task")) {
    const std::string name = h5::read_string_attr(f, "/", "task");
    try {
      d.task = parse_task(name);
    } catch (const Error& e) {
      fail(path, ": attribute task: ", e.what());
    }
  } else {
    d.task = yi.type == h5::TypeClass::integer ? Task::classification : Task::regression;
  }

  if (read_features) d.x = read_finite(f, "/X", xi);

  if (d.task == Task::classification) {
    HPCT_CHECK(d.targets == 1, path, ": dataset /y: classification labels must be [N], found ",
               shape_string(yi.shape));
    d.targets = 1;
    std::vector<std::int64_t> labels;
    if (yi.type == h5::TypeClass::integer) {
      labels = h5::read_int64(f, "/y");
    } else {
      // Float labels are accepted when they are whole numbers (e.g. written by numpy as float).
      const std::vector<double> v = h5::read_double(f, "/y");
      labels.resize(v.size());
      for (std::size_t i = 0; i < v.size(); ++i) {
        HPCT_CHECK(std::isfinite(v[i]), path, ": /y row ", i, " is ", non_finite_name(v[i]));
        HPCT_CHECK(v[i] == std::floor(v[i]) && std::fabs(v[i]) < 2147483647.0, path, ": /y row ", i,
                   " is ", v[i], ", not an integer class label");
        labels[i] = static_cast<std::int64_t>(v[i]);
      }
    }
    std::int64_t max_label = 0;
    for (std::size_t i = 0; i < labels.size(); ++i) {
      HPCT_CHECK(labels[i] >= 0, path, ": /y row ", i, " is label ", labels[i],
                 "; class labels must be >= 0");
      HPCT_CHECK(labels[i] < std::numeric_limits<std::int32_t>::max(), path, ": /y row ", i,
                 " is label ", labels[i], ", beyond the supported range of class labels");
      max_label = std::max(max_label, labels[i]);
    }
    if (h5::has_attr(f, "/", "num_classes")) {
      d.num_classes = h5::read_int64_attr(f, "/", "num_classes");
      HPCT_CHECK(d.num_classes >= 1, path, ": attribute num_classes is ", d.num_classes,
                 "; it must be >= 1");
      for (std::size_t i = 0; i < labels.size(); ++i)
        HPCT_CHECK(labels[i] < d.num_classes, path, ": /y row ", i, " is label ", labels[i],
                   " but num_classes is ", d.num_classes, " (labels 0..", d.num_classes - 1, ")");
    } else {
      d.num_classes = max_label + 1;
    }
    HPCT_CHECK(d.num_classes <= std::numeric_limits<std::int32_t>::max(), path,
               ": attribute num_classes is ", d.num_classes, ", more than supported");
    d.labels.assign(labels.begin(), labels.end());
  } else {
    // Regression and binary: integer /y is converted to float.
    d.y = read_finite(f, "/y", yi);
    if (d.task == Task::binary) {
      for (std::size_t k = 0; k < d.y.size(); ++k) {
        const auto idx = static_cast<std::int64_t>(k);
        HPCT_CHECK(d.y[k] == 0.0f || d.y[k] == 1.0f, path, ": /y ",
                   cell(idx, d.targets, yi.shape.size() == 2), " is ", d.y[k],
                   " but task binary needs labels 0 or 1");
      }
    }
  }

  // Ground truth beside /X and /y (generators' /f, /sigma, ...): numeric root datasets with N rows.
  for (const std::string& name : h5::members(f, "/")) {
    if (name == "X" || name == "y") continue;
    const std::string p = "/" + name;
    if (!h5::is_dataset(f, p)) continue;
    const h5::DatasetInfo info = h5::dataset_info(f, p);
    const bool numeric =
        info.type == h5::TypeClass::floating || info.type == h5::TypeClass::integer;
    if (!numeric || info.shape.empty() || info.shape[0] != d.n) continue;
    d.extras.emplace_back(name, h5::read_float(f, p));
  }
  return d;
}

void write_dataset(const std::string& path, const Dataset& d) {
  // Sizes are checked as each part is written: a failure part-way is cleaned up by AtomicFile.
  h5::AtomicFile out(path);
  const h5::File& f = out.file();
  HPCT_CHECK(d.n > 0, path, ": cannot write a data set with no rows");
  HPCT_CHECK(d.features > 0, path, ": cannot write a data set with no features");
  HPCT_CHECK(static_cast<std::int64_t>(d.x.size()) == d.n * d.features, path, ": /X has ",
             d.x.size(), " values but n * features = ", d.n * d.features);
  h5::write(f, "/X", {d.n, d.features}, d.x);

  if (d.task == Task::classification) {
    HPCT_CHECK(static_cast<std::int64_t>(d.labels.size()) == d.n, path, ": /y has ",
               d.labels.size(), " labels but n = ", d.n);
    h5::write(f, "/y", {d.n}, d.labels);
    h5::write_attr(f, "/", "num_classes", d.num_classes);
  } else {
    HPCT_CHECK(d.targets > 0, path, ": cannot write a data set with no targets");
    HPCT_CHECK(static_cast<std::int64_t>(d.y.size()) == d.n * d.targets, path, ": /y has ",
               d.y.size(), " values but n * targets = ", d.n * d.targets);
    if (d.targets == 1)
      h5::write(f, "/y", {d.n}, d.y);
    else
      h5::write(f, "/y", {d.n, d.targets}, d.y);
  }
  h5::write_attr(f, "/", "task", to_string(d.task));

  for (const auto& [name, values] : d.extras) {
    HPCT_CHECK(!name.empty() && name.find('/') == std::string::npos && name != "X" && name != "y",
               path, ": invalid extra dataset name '", name, "'");
    const auto size = static_cast<std::int64_t>(values.size());
    HPCT_CHECK(size % d.n == 0 && size > 0, path, ": extra dataset /", name, " has ", size,
               " values, not a multiple of n = ", d.n);
    const std::int64_t width = size / d.n;
    if (width == 1)
      h5::write(f, "/" + name, {d.n}, values);
    else
      h5::write(f, "/" + name, {d.n, width}, values);
  }
  out.commit();
}

}  // namespace hpct::data
