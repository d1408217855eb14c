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

// "row 3 position 7" (token level or sequence inputs), with " column c" when there are columns.
std::string where(std::int64_t row, std::int64_t pos, std::int64_t col, std::int64_t cols) {
  std::string s = cat("row ", row, " position ", pos);
  return cols > 1 ? s + cat(" column ", col) : s;
}

// Reads a numeric dataset of shape [N, L] or [N, L, C] as float32: positions at or beyond
// valid(row) are padding, set to 0 and not checked; the others must be finite (and, for float64
// data, within float32 range). Errors name the row, position and column.
template <class Valid>
std::vector<float> read_positions(const h5::File& f, const std::string& name, const h5::DatasetInfo& info,
                                  Valid valid) {
  const std::int64_t L = info.shape[1], cols = info.shape.size() == 3 ? info.shape[2] : 1;
  const auto check = [&](const auto& v, std::vector<float>& out) {
    out.assign(v.size(), 0.0f);
    const double fmax = std::numeric_limits<float>::max();
    for (std::size_t k = 0; k < v.size(); ++k) {
      const auto idx = static_cast<std::int64_t>(k);
      const std::int64_t row = idx / (L * cols), pos = idx / cols % L, col = idx % cols;
      if (pos >= valid(row)) continue;  // padding
      const double x = v[k];
      HPCT_CHECK(std::isfinite(x), f.path(), ": ", name, " ", where(row, pos, col, cols), " is ",
                 non_finite_name(x));
      HPCT_CHECK(std::fabs(x) <= fmax, f.path(), ": ", name, " ", where(row, pos, col, cols), " is ", x,
                 ", beyond float32 range");
      out[k] = static_cast<float>(x);
    }
  };
  std::vector<float> out;
  if (info.type == h5::TypeClass::floating && info.type_size > sizeof(float))
    check(h5::read_double(f, name), out);
  else
    check(h5::read_float(f, name), out);
  return out;
}

// The root attribute target_level, or "" when absent; errors name the file and the value.
std::string target_level_attr(const h5::File& f) {
  if (!h5::has_attr(f, "/", "target_level")) return "";
  const std::string level = h5::read_string_attr(f, "/", "target_level");
  HPCT_CHECK(level == "sequence" || level == "token", f.path(), ": attribute target_level is '", level,
             "' (expected sequence or token)");
  return level;
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
  out.seq_len = seq_len;
  out.features = features;
  out.vocab_size = vocab_size;
  out.targets = targets;
  out.num_classes = num_classes;
  out.token_targets = token_targets;
  const auto copy_rows = [&](const auto& src, auto& dst, std::int64_t width) {
    dst.resize(index.size() * static_cast<std::size_t>(width));
    for (std::size_t r = 0; r < index.size(); ++r) {
      const auto from = src.begin() + index[r] * width;
      std::copy(from, from + width, dst.begin() + static_cast<std::int64_t>(r) * width);
    }
  };
  for (auto i : index)
    HPCT_CHECK(i >= 0 && i < n, source, ": row index ", i, " out of range [0, ", n, ")");
  if (!x.empty()) copy_rows(x, out.x, row_width());
  if (!tokens.empty()) copy_rows(tokens, out.tokens, seq_len);
  if (!lengths.empty()) copy_rows(lengths, out.lengths, 1);
  if (task == Task::classification)
    copy_rows(labels, out.labels, target_positions());
  else
    copy_rows(y, out.y, target_positions() * targets);
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

  // Inputs: /tokens [N, L], or /X [N, F] / [N, L, F].
  const bool has_tokens = h5::exists(f, "/tokens");
  const std::string input = has_tokens ? "/tokens" : "/X";
  HPCT_CHECK(!has_tokens || !h5::exists(f, "/X"), path,
             ": has both /X and /tokens; a data set holds one kind of input");
  const bool has_targets = require_targets || h5::exists(f, "/y");
  for (const std::string& name : {input, std::string("/y")}) {
    if (!has_targets && name == "/y") continue;
    HPCT_CHECK(h5::exists(f, name), path, ": no dataset ", name);
    HPCT_CHECK(h5::is_dataset(f, name), path, ": ", name, " is not a dataset");
  }
  const h5::DatasetInfo xi = h5::dataset_info(f, input);
  if (has_tokens) {
    HPCT_CHECK(xi.shape.size() == 2, path, ": dataset /tokens: expected 2 dimensions [N, L], found ",
               xi.shape.size());
    HPCT_CHECK(xi.type == h5::TypeClass::integer, path, ": dataset /tokens: expected integer token ids, found ",
               h5::to_string(xi.type));
    d.n = xi.shape[0];
    d.seq_len = xi.shape[1];
    HPCT_CHECK(d.n > 0, path, ": dataset /tokens has no rows (N = 0)");
    HPCT_CHECK(h5::has_attr(f, "/", "vocab_size"), path,
               ": /tokens needs the root attribute vocab_size (token ids are in [0, vocab_size))");
    d.vocab_size = h5::read_int64_attr(f, "/", "vocab_size");
    HPCT_CHECK(d.vocab_size >= 1 && d.vocab_size <= std::numeric_limits<std::int32_t>::max(), path,
               ": attribute vocab_size is ", d.vocab_size, "; it must be in [1, 2^31 - 1]");
  } else {
    HPCT_CHECK(xi.shape.size() == 2 || xi.shape.size() == 3, path,
               ": dataset /X: expected 2 dimensions [N, F] or 3 [N, L, F], found ", xi.shape.size());
    require_numeric(f, "/X", xi);
    d.n = xi.shape[0];
    d.seq_len = xi.shape.size() == 3 ? xi.shape[1] : 0;
    d.features = xi.shape.back();
    HPCT_CHECK(d.n > 0, path, ": dataset /X has no rows (N = 0)");
    HPCT_CHECK(d.features > 0, path, ": dataset /X has no feature columns (F = 0)");
  }
  const bool sequences = has_tokens || xi.shape.size() == 3;
  HPCT_CHECK(!sequences || d.seq_len > 0, path, ": dataset ", input, " has no positions (L = 0)");

  // Lengths, then the inputs, whose padding they define.
  if (h5::exists(f, "/lengths")) {
    HPCT_CHECK(d.is_sequence(), path, ": /lengths is given but /X is [N, F], not sequences ([N, L, F] or /tokens)");
    const h5::DatasetInfo li = h5::dataset_info(f, "/lengths");
    HPCT_CHECK(li.shape.size() == 1 && li.type == h5::TypeClass::integer, path,
               ": dataset /lengths: expected integers [N], found ", h5::to_string(li.type), " ",
               shape_string(li.shape));
    HPCT_CHECK(li.shape[0] == d.n, path, ": /lengths has ", li.shape[0], " rows but ", input, " has ", d.n);
    const std::vector<std::int64_t> lengths = h5::read_int64(f, "/lengths");
    for (std::size_t r = 0; r < lengths.size(); ++r)
      HPCT_CHECK(lengths[r] >= 1 && lengths[r] <= d.seq_len, path, ": /lengths row ", r, " is ", lengths[r],
                 "; lengths must be in [1, ", d.seq_len, "] (L of ", input, ")");
    d.lengths.assign(lengths.begin(), lengths.end());
  }
  const auto valid = [&d](std::int64_t row) { return d.length(row); };
  if (has_tokens) {
    const std::vector<std::int64_t> tokens = h5::read_int64(f, "/tokens");
    d.tokens.assign(tokens.size(), 0);
    for (std::size_t k = 0; k < tokens.size(); ++k) {
      const auto row = static_cast<std::int64_t>(k) / d.seq_len, pos = static_cast<std::int64_t>(k) % d.seq_len;
      if (pos >= valid(row)) continue;  // padding reads as token 0
      HPCT_CHECK(tokens[k] >= 0 && tokens[k] < d.vocab_size, path, ": /tokens row ", row, " position ", pos,
                 " is token id ", tokens[k], ", outside the vocabulary [0, ", d.vocab_size, ") (attribute vocab_size)");
      d.tokens[k] = static_cast<std::int32_t>(tokens[k]);
    }
  } else if (read_features) {
    d.x = d.is_sequence() ? read_positions(f, "/X", xi, valid) : read_finite(f, "/X", xi);
  }
  if (!has_targets) {  // inputs only (prediction)
    d.targets = 0;
    return d;
  }

  // Targets: per row, or per position (target_level).
  const h5::DatasetInfo yi = h5::dataset_info(f, "/y");
  require_numeric(f, "/y", yi);
  const std::string level = target_level_attr(f);
  HPCT_CHECK(level != "token" || d.is_sequence(), path,
             ": attribute target_level is 'token' but the inputs are not sequences (/X is [N, F])");
  d.token_targets = level.empty() ? d.is_sequence() && yi.shape.size() >= 2 && yi.shape[1] == d.seq_len
                                  : level == "token";
  if (d.token_targets) {
    HPCT_CHECK(yi.shape.size() == 2 || yi.shape.size() == 3, path,
               ": dataset /y: token-level targets must be [N, L] or [N, L, T], found ", shape_string(yi.shape));
    HPCT_CHECK(yi.shape[0] == d.n, path, ": /y has ", yi.shape[0], " rows but ", input, " has ", d.n);
    HPCT_CHECK(yi.shape[1] == d.seq_len, path, ": dataset /y: token-level targets have ", yi.shape[1],
               " positions but ", input, " has L = ", d.seq_len);
    d.targets = yi.shape.size() == 3 ? yi.shape[2] : 1;
  } else {
    HPCT_CHECK(yi.shape.size() == 1 || yi.shape.size() == 2, path,
               ": dataset /y: expected 1 or 2 dimensions [N] or [N, T], found ", yi.shape.size());
    HPCT_CHECK(yi.shape[0] == d.n, path, ": /y has ", yi.shape[0], " rows but ", input, " has ", d.n);
    d.targets = yi.shape.size() == 2 ? yi.shape[1] : 1;
  }
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

  const std::int64_t P = d.target_positions();
  // "row 5" (per row) or "row 5 position 3" (per token) for element k of labels.
  const auto label_at = [&](std::size_t k) {
    const auto idx = static_cast<std::int64_t>(k);
    return d.token_targets ? cat("row ", idx / P, " position ", idx % P) : cat("row ", idx);
  };
  if (d.task == Task::classification) {
    HPCT_CHECK(d.targets == 1, path, ": dataset /y: classification labels must be ",
               d.token_targets ? "[N, L]" : "[N]", ", found ", shape_string(yi.shape));
    std::vector<std::int64_t> labels;
    if (yi.type == h5::TypeClass::integer) {
      labels = h5::read_int64(f, "/y");
    } else {
      // Float labels are accepted when they are whole numbers (e.g. written by numpy as float).
      const std::vector<double> v = h5::read_double(f, "/y");
      labels.resize(v.size());
      for (std::size_t i = 0; i < v.size(); ++i) {
        if (d.token_targets && static_cast<std::int64_t>(i) % P >= valid(static_cast<std::int64_t>(i) / P)) {
          labels[i] = kIgnoreLabel;  // padding
          continue;
        }
        HPCT_CHECK(std::isfinite(v[i]), path, ": /y ", label_at(i), " is ", non_finite_name(v[i]));
        HPCT_CHECK(v[i] == std::floor(v[i]) && std::fabs(v[i]) < 2147483647.0, path, ": /y ", label_at(i),
                   " is ", v[i], ", not an integer class label");
        labels[i] = static_cast<std::int64_t>(v[i]);
      }
    }
    // Per token: padding becomes -1 and -1 (no label) is allowed anywhere.
    // Per row: -1 marks an unlabelled row (kept; models other than ssvae refuse it at setup).
    const auto skipped = [&](std::size_t i) {
      if (!d.token_targets) return labels[i] == kIgnoreLabel;
      const auto idx = static_cast<std::int64_t>(i);
      if (idx % P >= valid(idx / P)) labels[i] = kIgnoreLabel;
      return labels[i] == kIgnoreLabel;
    };
    std::int64_t max_label = 0;
    for (std::size_t i = 0; i < labels.size(); ++i) {
      if (skipped(i)) continue;
      HPCT_CHECK(labels[i] >= 0, path, ": /y ", label_at(i), " is label ", labels[i], "; class labels must be >= 0",
                 d.token_targets ? " (or -1: no label)" : "");
      HPCT_CHECK(labels[i] < std::numeric_limits<std::int32_t>::max(), path, ": /y ", label_at(i), " is label ",
                 labels[i], ", beyond the supported range of class labels");
      max_label = std::max(max_label, labels[i]);
    }
    if (h5::has_attr(f, "/", "num_classes")) {
      d.num_classes = h5::read_int64_attr(f, "/", "num_classes");
      HPCT_CHECK(d.num_classes >= 1, path, ": attribute num_classes is ", d.num_classes,
                 "; it must be >= 1");
      for (std::size_t i = 0; i < labels.size(); ++i)
        HPCT_CHECK(labels[i] < d.num_classes, path, ": /y ", label_at(i), " is label ", labels[i],
                   " but num_classes is ", d.num_classes, " (labels 0..", d.num_classes - 1, ")");
    } else {
      d.num_classes = max_label + 1;
    }
    HPCT_CHECK(d.num_classes <= std::numeric_limits<std::int32_t>::max(), path,
               ": attribute num_classes is ", d.num_classes, ", more than supported");
    d.labels.assign(labels.begin(), labels.end());
  } else {
    // Regression and binary: integer /y is converted to float.
    d.y = d.token_targets ? read_positions(f, "/y", yi, valid) : read_finite(f, "/y", yi);
    if (d.task == Task::binary) {
      for (std::size_t k = 0; k < d.y.size(); ++k) {
        const auto idx = static_cast<std::int64_t>(k);
        const std::string at = d.token_targets ? where(idx / (P * d.targets), idx / d.targets % P, idx % d.targets,
                                                       d.targets)
                                               : cell(idx, d.targets, yi.shape.size() == 2);
        HPCT_CHECK(d.y[k] == 0.0f || d.y[k] == 1.0f, path, ": /y ", at, " is ", d.y[k],
                   " but task binary needs labels 0 or 1");
      }
    }
  }

  // Ground truth beside the inputs and /y (generators' /f, /sigma, ...): numeric root datasets with
  // N rows.
  for (const std::string& name : h5::members(f, "/")) {
    if (name == "X" || name == "y" || name == "tokens" || name == "lengths") continue;
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
  const std::int64_t L = d.seq_len;
  HPCT_CHECK(d.n > 0, path, ": cannot write a data set with no rows");
  HPCT_CHECK(L >= 0, path, ": seq_len is ", L);
  HPCT_CHECK(!d.token_targets || L > 0, path, ": token-level targets need sequence inputs (seq_len > 0)");
  if (!d.lengths.empty()) {
    HPCT_CHECK(L > 0, path, ": lengths given for tabular data (seq_len = 0)");
    HPCT_CHECK(static_cast<std::int64_t>(d.lengths.size()) == d.n, path, ": /lengths has ", d.lengths.size(),
               " values but n = ", d.n);
    for (std::size_t r = 0; r < d.lengths.size(); ++r)
      HPCT_CHECK(d.lengths[r] >= 1 && d.lengths[r] <= L, path, ": /lengths row ", r, " is ", d.lengths[r],
                 "; lengths must be in [1, ", L, "]");
  }
  if (d.has_tokens()) {
    HPCT_CHECK(L > 0 && d.features == 0 && d.x.empty(), path,
               ": a token data set has seq_len > 0 and no float features (seq_len ", L, ", features ", d.features,
               ")");
    HPCT_CHECK(static_cast<std::int64_t>(d.tokens.size()) == d.n * L, path, ": /tokens has ", d.tokens.size(),
               " values but n * seq_len = ", d.n * L);
    for (std::size_t k = 0; k < d.tokens.size(); ++k) {
      const auto row = static_cast<std::int64_t>(k) / L, pos = static_cast<std::int64_t>(k) % L;
      HPCT_CHECK(pos >= d.length(row) || (d.tokens[k] >= 0 && d.tokens[k] < d.vocab_size), path, ": /tokens row ",
                 row, " position ", pos, " is token id ", d.tokens[k], ", outside the vocabulary [0, ", d.vocab_size,
                 ")");
    }
    h5::write(f, "/tokens", {d.n, L}, d.tokens);
    h5::write_attr(f, "/", "vocab_size", d.vocab_size);
  } else {
    HPCT_CHECK(d.features > 0, path, ": cannot write a data set with no features");
    HPCT_CHECK(d.tokens.empty(), path, ": tokens given but vocab_size is 0");
    HPCT_CHECK(static_cast<std::int64_t>(d.x.size()) == d.n * d.row_width(), path, ": /X has ", d.x.size(),
               " values but n * ", L > 0 ? "seq_len * " : "", "features = ", d.n * d.row_width());
    if (L > 0)
      h5::write(f, "/X", {d.n, L, d.features}, d.x);
    else
      h5::write(f, "/X", {d.n, d.features}, d.x);
  }
  if (!d.lengths.empty()) h5::write(f, "/lengths", {d.n}, d.lengths);

  const std::int64_t P = d.target_positions();
  if (d.targets == 0) {
    // Inputs only, data to predict on (read back with require_targets = false): no /y, no task.
  } else if (d.task == Task::classification) {
    HPCT_CHECK(static_cast<std::int64_t>(d.labels.size()) == d.n * P, path, ": /y has ", d.labels.size(),
               " labels but n", d.token_targets ? " * seq_len" : "", " = ", d.n * P);
    if (d.token_targets)
      h5::write(f, "/y", {d.n, L}, d.labels);
    else
      h5::write(f, "/y", {d.n}, d.labels);
    h5::write_attr(f, "/", "num_classes", d.num_classes);
  } else {
    HPCT_CHECK(static_cast<std::int64_t>(d.y.size()) == d.n * P * d.targets, path, ": /y has ", d.y.size(),
               " values but n", d.token_targets ? " * seq_len" : "", " * targets = ", d.n * P * d.targets);
    std::vector<std::int64_t> shape = {d.n};
    if (d.token_targets) shape.push_back(L);
    if (d.targets > 1) shape.push_back(d.targets);
    h5::write(f, "/y", shape, d.y);
  }
  if (d.targets > 0) {
    h5::write_attr(f, "/", "task", to_string(d.task));
    if (L > 0) h5::write_attr(f, "/", "target_level", d.token_targets ? "token" : "sequence");
  }

  for (const auto& [name, values] : d.extras) {
    HPCT_CHECK(!name.empty() && name.find('/') == std::string::npos && name != "X" && name != "y" &&
                   name != "tokens" && name != "lengths",
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
