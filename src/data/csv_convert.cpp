#include "data/csv_convert.hpp"

#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>

#include "core/error.hpp"

namespace hpct::data {
namespace {

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

// Splits one line on commas. A field may be wrapped in double quotes (then it may contain commas,
// and "" stands for one quote); surrounding spaces are stripped. Limitation: a quoted field cannot
// span lines, since the file is read line by line.
std::vector<std::string> split_fields(const std::string& line) {
  std::vector<std::string> fields;
  std::string cur;
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char ch = line[i];
    if (quoted) {
      if (ch == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        cur += '"';
        ++i;
      } else if (ch == '"') {
        quoted = false;
      } else {
        cur += ch;
      }
    } else if (ch == '"') {
      quoted = true;
    } else if (ch == ',') {
      fields.push_back(trim(cur));
      cur.clear();
    } else {
      cur += ch;
    }
  }
  fields.push_back(trim(cur));
  return fields;
}

// Locale-independent number parsing; a leading '+' is allowed (from_chars rejects it).
bool parse_number(const std::string& s, double& out) {
  std::string_view v = s;
  if (!v.empty() && v.front() == '+') v.remove_prefix(1);
  if (v.empty()) return false;
  const auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  return ec == std::errc() && ptr == v.data() + v.size();
}

}  // namespace

Dataset read_csv(const std::string& path, const CsvOptions& opt) {
  Task task;
  try {
    task = parse_task(opt.task);
  } catch (const Error& e) {
    fail(path, ": ", e.what());
  }
  HPCT_CHECK(!opt.targets.empty(), path, ": no target column given");
  HPCT_CHECK(task != Task::classification || opt.targets.size() == 1, path,
             ": classification takes exactly one target column (integer labels), got ",
             opt.targets.size());

  std::ifstream in(path);
  HPCT_CHECK(in.good(), path, ": cannot open");
  std::string line;
  std::int64_t line_no = 0;
  // The header is the first line that is not blank.
  bool have_header = false;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!trim(line).empty()) {
      have_header = true;
      break;
    }
  }
  HPCT_CHECK(have_header, path, ": empty file (expected a header line of column names)");
  if (line.starts_with("\xEF\xBB\xBF")) line.erase(0, 3);  // UTF-8 byte order mark
  const std::vector<std::string> header = split_fields(line);
  const std::int64_t header_line = line_no;

  std::map<std::string, std::size_t> column;
  for (std::size_t c = 0; c < header.size(); ++c) {
    HPCT_CHECK(!header[c].empty(), path, ": line ", header_line, ": column ", c + 1,
               " has an empty name");
    HPCT_CHECK(column.emplace(header[c], c).second, path, ": line ", header_line,
               ": duplicate column '", header[c], "'");
  }
  const auto find = [&](const std::string& name, const char* role) {
    const auto it = column.find(name);
    if (it == column.end()) {
      std::string names;
      for (const auto& h : header) names += (names.empty() ? "" : ", ") + h;
      fail(path, ": line ", header_line, ": no ", role, " column '", name, "' (columns: ", names,
           ")");
    }
    return it->second;
  };
  std::vector<std::size_t> target_cols, feature_cols;
  for (const auto& t : opt.targets) target_cols.push_back(find(t, "target"));
  const auto is_target = [&](std::size_t c) {
    for (auto t : target_cols)
      if (t == c) return true;
    return false;
  };
  if (opt.features.empty()) {
    for (std::size_t c = 0; c < header.size(); ++c)
      if (!is_target(c)) feature_cols.push_back(c);
  } else {
    for (const auto& name : opt.features) {
      const std::size_t c = find(name, "feature");
      HPCT_CHECK(!is_target(c), path, ": column '", name, "' is both a feature and a target");
      feature_cols.push_back(c);
    }
  }
  HPCT_CHECK(!feature_cols.empty(), path, ": no feature columns (every column is a target)");

  Dataset d;
  d.source = path;
  d.task = task;
  d.features = static_cast<std::int64_t>(feature_cols.size());
  d.targets = task == Task::classification ? 1 : static_cast<std::int64_t>(target_cols.size());
  std::vector<double> row(header.size());
  std::int64_t max_label = -1;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (trim(line).empty()) continue;  // blank lines, e.g. a trailing one
    const std::vector<std::string> fields = split_fields(line);
    HPCT_CHECK(fields.size() == header.size(), path, ": line ", line_no, ": ", fields.size(),
               " fields, expected ", header.size(), " as in the header");
    // Only the columns in use must be numeric: others (ids, names) are ignored.
    const auto value = [&](std::size_t c) {
      double v = 0;
      HPCT_CHECK(!fields[c].empty(), path, ": line ", line_no, ", column '", header[c],
                 "': empty field");
      HPCT_CHECK(parse_number(fields[c], v), path, ": line ", line_no, ", column '", header[c],
                 "': '", fields[c], "' is not a number");
      HPCT_CHECK(std::isfinite(v), path, ": line ", line_no, ", column '", header[c], "': '",
                 fields[c], "' is not finite");
      HPCT_CHECK(std::fabs(v) <= std::numeric_limits<float>::max(), path, ": line ", line_no,
                 ", column '", header[c], "': '", fields[c], "' is beyond float32 range");
      return v;
    };
    for (auto c : feature_cols) d.x.push_back(static_cast<float>(value(c)));
    for (auto c : target_cols) {
      const double v = value(c);
      if (task == Task::classification) {
        HPCT_CHECK(v >= 0 && v == std::floor(v) && v < 2147483647.0, path, ": line ", line_no,
                   ", column '", header[c], "': '", fields[c],
                   "' is not a class label (an integer >= 0)");
        const auto label = static_cast<std::int32_t>(v);
        d.labels.push_back(label);
        max_label = std::max<std::int64_t>(max_label, label);
      } else {
        HPCT_CHECK(task != Task::binary || v == 0.0 || v == 1.0, path, ": line ", line_no,
                   ", column '", header[c], "': '", fields[c],
                   "' is not a binary label (0 or 1)");
        d.y.push_back(static_cast<float>(v));
      }
    }
    ++d.n;
  }
  HPCT_CHECK(d.n > 0, path, ": no data rows after the header");
  if (task == Task::classification) d.num_classes = max_label + 1;
  return d;
}

}  // namespace hpct::data
