#include "app/run_dir_info.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <sstream>
#include <vector>

#include "app/run_files.hpp"
#include "core/error.hpp"
#include "train/progress.hpp"

namespace hpct::app {
namespace fs = std::filesystem;
namespace {

// A top-level string or number field of one events.jsonl line (our writer puts "event" and "time"
// first, and these are the fields read here); empty when absent. Strings are unescaped.
std::string json_field(const std::string& line, const std::string& key) {
  const std::string k = "\"" + key + "\":";
  const auto at = line.find(k);
  if (at == std::string::npos) return {};
  std::size_t i = at + k.size();
  if (i >= line.size() || line[i] != '"') {
    const auto end = line.find_first_of(",}", i);
    return line.substr(i, end == std::string::npos ? std::string::npos : end - i);
  }
  std::string out;
  for (++i; i < line.size() && line[i] != '"'; ++i) {
    if (line[i] != '\\' || i + 1 >= line.size()) {
      out += line[i];
      continue;
    }
    const char c = line[++i];
    if (c == 'n') out += '\n';
    else if (c == 't') out += '\t';
    else if (c == 'r') out += '\r';
    else if (c == 'u' && i + 4 < line.size()) {
      out += static_cast<char>(std::stoi(line.substr(i + 1, 4), nullptr, 16));
      i += 4;
    } else out += c;
  }
  return out;
}

std::vector<std::string> read_lines(const fs::path& p) {
  std::vector<std::string> lines;
  std::ifstream in(p);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) lines.push_back(l);
  return lines;
}

// metrics.csv as columns by name (empty cells: NaN).
struct Table {
  std::vector<std::string> names;
  std::vector<std::vector<double>> rows;
  double at(std::size_t row, const std::string& name) const {
    const auto it = std::find(names.begin(), names.end(), name);
    if (it == names.end() || row >= rows.size()) return std::nan("");
    const auto c = static_cast<std::size_t>(it - names.begin());
    return c < rows[row].size() ? rows[row][c] : std::nan("");
  }
};

Table read_metrics(const fs::path& p) {
  Table t;
  const std::vector<std::string> lines = read_lines(p);
  if (lines.empty()) return t;
  t.names = csv_cells(lines[0]);
  for (std::size_t i = 1; i < lines.size(); ++i) {
    std::vector<double> row;
    for (const std::string& cell : csv_cells(lines[i])) row.push_back(cell.empty() ? std::nan("") : std::stod(cell));
    t.rows.push_back(row);
  }
  return t;
}

// running / finished / stopped / failed, and the last event with its age.
struct Status {
  std::string state, last, error;
  double age_s = 0;
};

Status read_status(const fs::path& dir) {
  Status s;
  const std::vector<std::string> events = read_lines(dir / "events.jsonl");
  if (events.empty()) {
    s.state = fs::exists(dir / "model.h5") ? "finished (no events.jsonl)" : "unknown (no events.jsonl)";
    return s;
  }
  const std::string& last = events.back();
  s.last = json_field(last, "event");
  const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const std::string time = json_field(last, "time");
  s.age_s = time.empty() ? 0 : now - std::stod(time);
  if (s.last == "end") s.state = json_field(last, "status");
  else if (s.last == "failed") s.state = "failed", s.error = json_field(last, "error");
  else s.state = "running";
  return s;
}

// The options worth a glance, from config.ini (written at the end) or the start event.
std::string config_summary(const fs::path& dir) {
  std::string text;
  std::ifstream ini(dir / "config.ini");
  if (ini) text.assign(std::istreambuf_iterator<char>(ini), {});
  else
    for (const std::string& l : read_lines(dir / "events.jsonl"))
      if (json_field(l, "event") == "start") text = json_field(l, "config");
  std::map<std::string, std::string> kv = ini_values(text);
  std::string out;
  for (const char* k : {"data.train", "model.type", "model.widths", "model.d-model", "model.layers", "epochs",
                        "batch-size", "optim.name", "optim.lr", "precision", "device"})
    if (kv.count(k) && !(std::string(k) == "model.widths" && kv["model.type"] != "mlp") &&
        !(std::string(k).rfind("model.d", 0) == 0 && kv["model.type"] == "mlp") &&
        !(std::string(k) == "model.layers" && kv["model.type"] == "mlp"))
      out += cat(out.empty() ? "" : ", ", k, " ", kv[k]);
  return out.empty() ? "(none found)" : out;
}

std::string fmt(double v) {
  std::ostringstream os;
  os << std::setprecision(5) << v;
  return os.str();
}

std::string rate(double v) { return std::to_string(std::llround(v)); }

// The validation columns of a row: "val_loss=... mse=..."
std::string val_text(const Table& t, std::size_t row) {
  std::string out;
  for (const std::string& n : t.names)
    if (n.rfind("val_", 0) == 0 && !std::isnan(t.at(row, n)))
      out += cat(out.empty() ? "" : " ", n == "val_loss" ? n : n.substr(4), "=", fmt(t.at(row, n)));
  return out;
}

void describe_one(const fs::path& dir, std::ostream& out, bool brief) {
  const Status st = read_status(dir);
  const Table m = read_metrics(dir / "metrics.csv");
  const std::size_t n = m.rows.size();
  std::string status = st.state;
  if (!st.last.empty())
    status += cat(" (last event '", st.last, "' ", train::format_duration(st.age_s), " ago)");
  if (!st.error.empty()) status += ": " + st.error;
  if (brief) {
    out << "  " << dir.filename().string() << ": " << status << ", epochs " << (n ? fmt(m.at(n - 1, "epoch")) : "0");
    if (n) out << ", " << val_text(m, n - 1) << ", " << rate(m.at(n - 1, "samples_per_s")) << " samples/s";
    out << "\n";
    return;
  }
  out << "  status      " << status << "\n";
  out << "  config      " << config_summary(dir) << "\n";
  if (n == 0) {
    out << "  progress    no epoch finished yet\n";
  } else {
    out << "  progress    epoch " << fmt(m.at(n - 1, "epoch")) << ", step " << fmt(m.at(n - 1, "step")) << "\n";
    std::size_t best = n, last = n;
    for (std::size_t r = 0; r < n; ++r) {
      const double v = m.at(r, "val_loss");
      if (std::isnan(v)) continue;
      last = r;
      if (best == n || v < m.at(best, "val_loss")) best = r;
    }
    if (last < n) {
      out << "  last val    epoch " << fmt(m.at(last, "epoch")) << ": " << val_text(m, last) << "\n";
      out << "  best val    epoch " << fmt(m.at(best, "epoch")) << ": " << val_text(m, best) << "\n";
    }
    out << "  throughput  " << rate(m.at(n - 1, "samples_per_s")) << " samples/s (last epoch)";
    if (!std::isnan(m.at(n - 1, "tokens_per_s"))) out << ", " << rate(m.at(n - 1, "tokens_per_s")) << " tokens/s";
    out << "\n";
    std::vector<std::pair<std::string, double>> phases;
    double total = 0;
    for (const char* p : {"t_data", "t_forward", "t_backward", "t_comm_wait", "t_optimizer", "t_eval"}) {
      double sum = 0;
      for (std::size_t r = 0; r < n; ++r) sum += std::isnan(m.at(r, p)) ? 0 : m.at(r, p);
      phases.emplace_back(std::string(p).substr(2), sum);
      total += sum;
    }
    out << "  phases     ";
    for (const auto& [name, sec] : phases)
      out << " " << name << " " << fmt(sec) << " s (" << std::lround(100.0 * sec / std::max(total, 1e-12)) << "%)";
    out << "\n";
  }
  std::vector<std::string> ckpts;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir / "checkpoints", ec)) ckpts.push_back(e.path().filename().string());
  std::sort(ckpts.begin(), ckpts.end());
  out << "  checkpoints ";
  for (const std::string& c : ckpts) out << "checkpoints/" << c << " ";
  if (fs::exists(dir / "model.h5")) out << "model.h5";
  if (ckpts.empty() && !fs::exists(dir / "model.h5")) out << "none";
  out << "\n";
  for (const std::string& l : read_lines(dir / "events.jsonl"))
    if (json_field(l, "event") == "end" && !json_field(l, "limits").empty())
      out << "  limits      " << json_field(l, "limits") << "\n";
}

}  // namespace

void describe_run_dir(const std::string& path, std::ostream& out) {
  const fs::path dir(path);
  std::vector<fs::path> members;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_directory() && e.path().filename().string().rfind("member-", 0) == 0) members.push_back(e.path());
  HPCT_CHECK(!ec, path, ": cannot read the directory: ", ec.message());
  std::sort(members.begin(), members.end());
  const bool run = fs::exists(dir / "events.jsonl") || fs::exists(dir / "metrics.csv") || fs::exists(dir / "config.ini");
  HPCT_CHECK(run || !members.empty(), path,
             ": not a run directory (no events.jsonl, metrics.csv, config.ini or member-XXX/)");
  if (members.empty()) {
    out << path << ": hpctrain run\n";
    describe_one(dir, out, false);
    return;
  }
  out << path << ": hpctrain ensemble or group run, " << members.size() << " member(s)\n";
  for (const fs::path& m : members) describe_one(m, out, true);
}

}  // namespace hpct::app
