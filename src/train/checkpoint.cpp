#include "train/checkpoint.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <type_traits>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "data/hdf5.hpp"

namespace hpct::train {
namespace h5 = hpct::data::h5;
namespace {

constexpr const char* kFormat = "hpctrain-checkpoint";
constexpr std::int64_t kVersion = 1;

void require_attr(const h5::File& f, const std::string& obj, const std::string& name) {
  HPCT_CHECK(h5::has_attr(f, obj, name), f.path(), ": checkpoint has no attribute '", name,
             "' on ", obj);
}

// Datasets are written with their checksum and verified when read back.
template <class T>
void put(const h5::File& f, const std::string& path, const std::vector<std::int64_t>& shape, const std::vector<T>& v) {
  h5::write(f, path, shape, v);
  h5::write_attr(f, path, "checksum", static_cast<std::int64_t>(fnv1a(v.data(), v.size() * sizeof(T))));
}

template <class T>
std::vector<T> get(const h5::File& f, const std::string& path) {
  std::vector<T> v;
  if constexpr (std::is_same_v<T, float>)
    v = h5::read_float(f, path);
  else
    v = h5::read_double(f, path);
  if (h5::has_attr(f, path, "checksum"))
    HPCT_CHECK(static_cast<std::uint64_t>(h5::read_int64_attr(f, path, "checksum")) ==
                   fnv1a(v.data(), v.size() * sizeof(T)),
               f.path(), ": ", path, " is corrupt (its checksum does not match)");
  return v;
}

void write_vector(const h5::File& f, const std::string& path, const std::vector<float>& v) {
  put(f, path, {static_cast<std::int64_t>(v.size())}, v);
}

std::vector<float> read_optional(const h5::File& f, const std::string& path) {
  if (!h5::exists(f, path)) return {};
  return get<float>(f, path);
}

void save_resume(const h5::File& f, const CheckpointData::Resume& r) {
  const TrainState& s = r.state;
  h5::create_group(f, "/train");
  h5::write_attr(f, "/train", "epoch", s.epoch);
  h5::write_attr(f, "/train", "micro", s.micro);
  h5::write_attr(f, "/train", "step", s.step);
  h5::write_attr(f, "/train", "micro_steps", static_cast<std::int64_t>(s.micro_steps));
  h5::write_attr(f, "/train", "data_seed", static_cast<std::int64_t>(s.data_seed));
  h5::write_attr(f, "/train", "math", r.math);
  h5::write_attr(f, "/train", "math_hash", static_cast<std::int64_t>(fnv1a(r.math.data(), r.math.size())));
  put(f, "/train/scaler", {static_cast<std::int64_t>(s.scaler.size())}, s.scaler);
  put(f, "/train/epoch_loss", {static_cast<std::int64_t>(s.epoch_loss.size())}, s.epoch_loss);
  std::string columns;
  std::vector<double> values;
  for (const MetricsRow& row : s.history) {
    std::string names;
    for (const auto& [name, value] : row) {
      names += (names.empty() ? "" : ",") + name;
      values.push_back(value);
    }
    HPCT_CHECK(columns.empty() || names == columns, f.path(), ": metrics rows with different columns");
    columns = names;
  }
  h5::write_attr(f, "/train", "history_columns", columns);
  if (!s.history.empty())
    put(f, "/train/history", {static_cast<std::int64_t>(s.history.size()), static_cast<std::int64_t>(s.history[0].size())},
        values);
  h5::create_group(f, "/optimizer", /*track_order=*/true);
  for (const NamedArray& a : r.optimizer) put(f, "/optimizer/" + a.name, a.shape, a.values);
}

CheckpointData::Resume load_resume(const h5::File& f) {
  CheckpointData::Resume r;
  TrainState& s = r.state;
  for (const char* name : {"epoch", "micro", "step", "micro_steps", "data_seed", "math", "math_hash", "history_columns"})
    require_attr(f, "/train", name);
  s.epoch = h5::read_int64_attr(f, "/train", "epoch");
  s.micro = h5::read_int64_attr(f, "/train", "micro");
  s.step = h5::read_int64_attr(f, "/train", "step");
  s.micro_steps = static_cast<std::uint64_t>(h5::read_int64_attr(f, "/train", "micro_steps"));
  s.data_seed = static_cast<std::uint64_t>(h5::read_int64_attr(f, "/train", "data_seed"));
  r.math = h5::read_string_attr(f, "/train", "math");
  HPCT_CHECK(static_cast<std::uint64_t>(h5::read_int64_attr(f, "/train", "math_hash")) ==
                 fnv1a(r.math.data(), r.math.size()),
             f.path(), ": /train is corrupt (math_hash does not match its options)");
  s.scaler = get<double>(f, "/train/scaler");
  s.epoch_loss = get<double>(f, "/train/epoch_loss");
  HPCT_CHECK(s.epoch_loss.size() == 2, f.path(), ": /train/epoch_loss must hold 2 values");
  std::vector<std::string> columns;
  std::istringstream names(h5::read_string_attr(f, "/train", "history_columns"));
  for (std::string c; std::getline(names, c, ',');) columns.push_back(c);
  if (h5::exists(f, "/train/history")) {
    const std::vector<double> values = get<double>(f, "/train/history");
    HPCT_CHECK(!columns.empty() && values.size() % columns.size() == 0, f.path(),
               ": /train/history does not match its columns");
    for (std::size_t i = 0; i < values.size(); i += columns.size()) {
      MetricsRow row;
      for (std::size_t j = 0; j < columns.size(); ++j) row.emplace_back(columns[j], values[i + j]);
      s.history.push_back(std::move(row));
    }
  }
  HPCT_CHECK(h5::is_group(f, "/optimizer"), f.path(), ": checkpoint has no group /optimizer");
  for (const std::string& name : h5::members(f, "/optimizer")) {
    const std::string p = "/optimizer/" + name;
    r.optimizer.push_back({name, h5::dataset_info(f, p).shape, get<float>(f, p)});
  }
  return r;
}

namespace fs = std::filesystem;

std::string step_file(std::int64_t step) {
  char name[32];
  std::snprintf(name, sizeof(name), "step-%08lld.h5", static_cast<long long>(step));
  return name;
}

// The step files of a checkpoints directory, newest (highest step) first.
std::vector<std::pair<std::int64_t, std::string>> step_files(const std::string& dir) {
  std::vector<std::pair<std::int64_t, std::string>> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() != 16 || name.rfind("step-", 0) != 0 || name.substr(13) != ".h5") continue;
    const std::string digits = name.substr(5, 8);
    if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) continue;
    out.emplace_back(std::stoll(digits), e.path().string());
  }
  std::sort(out.rbegin(), out.rend());
  return out;
}


}  // namespace

void save_checkpoint(const std::string& path, const CheckpointData& ckpt) {
  h5::AtomicFile out(path);
  const h5::File& f = out.file();
  h5::write_attr(f, "/", "format", kFormat);
  h5::write_attr(f, "/", "version", kVersion);
  h5::write_attr(f, "/", "config", ckpt.config);
  h5::write_attr(f, "/", "epoch", ckpt.epoch);
  h5::write_attr(f, "/", "step", ckpt.step);

  h5::create_group(f, "/model");
  for (const auto& [name, value] : ckpt.model) {
    HPCT_CHECK(!name.empty(), path, ": empty /model attribute name");
    // A copy: clang 14 cannot capture a structured binding in a lambda.
    const std::string& key = name;
    std::visit([&](const auto& v) { h5::write_attr(f, "/model", key, v); }, value);
  }

  // Creation order is tracked so load returns the parameters in model order.
  h5::create_group(f, "/params", /*track_order=*/true);
  std::set<std::string> seen;
  for (const auto& p : ckpt.params) {
    HPCT_CHECK(!p.name.empty() && p.name != "." && p.name.find('/') == std::string::npos, path,
               ": invalid parameter name '", p.name, "' (must be non-empty, without '/')");
    HPCT_CHECK(seen.insert(p.name).second, path, ": duplicate parameter name '", p.name, "'");
    put(f, "/params/" + p.name, p.shape, p.values);
  }

  h5::create_group(f, "/standardization");
  const Standardization& s = ckpt.standardization;
  write_vector(f, "/standardization/x_mean", s.x_mean);
  write_vector(f, "/standardization/x_std", s.x_std);
  write_vector(f, "/standardization/y_mean", s.y_mean);
  write_vector(f, "/standardization/y_std", s.y_std);
  if (ckpt.resume) save_resume(f, *ckpt.resume);
  out.commit();
}

CheckpointData load_checkpoint(const std::string& path) {
  const h5::File f = h5::File::open_read(path);
  HPCT_CHECK(h5::has_attr(f, "/", "format"), path,
             ": not an hpctrain checkpoint (no format attribute)");
  const std::string format = h5::read_string_attr(f, "/", "format");
  HPCT_CHECK(format == kFormat, path, ": not an hpctrain checkpoint (format is '", format, "')");
  require_attr(f, "/", "version");
  const std::int64_t version = h5::read_int64_attr(f, "/", "version");
  HPCT_CHECK(version == kVersion, path, ": unsupported checkpoint version ", version,
             " (this build reads version ", kVersion, ")");

  CheckpointData c;
  for (const char* name : {"config", "epoch", "step"}) require_attr(f, "/", name);
  c.config = h5::read_string_attr(f, "/", "config");
  c.epoch = h5::read_int64_attr(f, "/", "epoch");
  c.step = h5::read_int64_attr(f, "/", "step");

  HPCT_CHECK(h5::is_group(f, "/model"), path, ": checkpoint has no group /model");
  for (const std::string& name : h5::attr_names(f, "/model")) {
    switch (h5::attr_kind(f, "/model", name)) {
      case h5::AttrKind::string: c.model[name] = h5::read_string_attr(f, "/model", name); break;
      case h5::AttrKind::integer: c.model[name] = h5::read_int64_attr(f, "/model", name); break;
      case h5::AttrKind::floating: c.model[name] = h5::read_double_attr(f, "/model", name); break;
      case h5::AttrKind::integer_array:
        c.model[name] = h5::read_int64_array_attr(f, "/model", name);
        break;
      default:
        fail(path, ": /model attribute '", name,
             "' has an unsupported type (expected string, integer, float or integer list)");
    }
  }

  HPCT_CHECK(h5::is_group(f, "/params"), path, ": checkpoint has no group /params");
  for (const std::string& name : h5::members(f, "/params")) {
    const std::string p = "/params/" + name;
    HPCT_CHECK(h5::is_dataset(f, p), path, ": ", p, " is not a dataset");
    NamedArray a;
    a.name = name;
    a.shape = h5::dataset_info(f, p).shape;
    a.values = get<float>(f, p);
    c.params.push_back(std::move(a));
  }

  // Standardization is optional on load: an absent group or dataset means "off" for that part.
  Standardization& s = c.standardization;
  s.x_mean = read_optional(f, "/standardization/x_mean");
  s.x_std = read_optional(f, "/standardization/x_std");
  s.y_mean = read_optional(f, "/standardization/y_mean");
  s.y_std = read_optional(f, "/standardization/y_std");
  if (h5::is_group(f, "/train")) c.resume = load_resume(f);
  return c;
}

std::uint64_t fnv1a(const void* data, std::size_t bytes) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < bytes; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

std::string checkpoints_dir(const std::string& run_dir) { return (fs::path(run_dir) / "checkpoints").string(); }

std::string save_periodic_checkpoint(const std::string& run_dir, const CheckpointData& ckpt, std::int64_t keep) {
  HPCT_CHECK(ckpt.resume, "a periodic checkpoint needs its training state");
  const std::string dir = checkpoints_dir(run_dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  HPCT_CHECK(!ec, dir, ": cannot create the checkpoints directory: ", ec.message());
  const std::string name = step_file(ckpt.resume->state.step);
  const std::string path = (fs::path(dir) / name).string();
  save_checkpoint(path, ckpt);
  write_text_atomic((fs::path(dir) / "latest").string(), name + "\n");
  const auto files = step_files(dir);
  for (std::size_t i = static_cast<std::size_t>(std::max<std::int64_t>(keep, 1)); i < files.size(); ++i)
    fs::remove(files[i].second, ec);  // an old checkpoint left behind costs space, not correctness
  return path;
}

std::optional<LoadedCheckpoint> load_latest_checkpoint(const std::string& run_dir) {
  const std::string dir = checkpoints_dir(run_dir);
  std::vector<std::string> candidates;
  std::ifstream latest(fs::path(dir) / "latest");
  std::string name;
  if (latest && std::getline(latest, name) && !name.empty() && name.find('/') == std::string::npos)
    candidates.push_back((fs::path(dir) / name).string());
  for (const auto& [step, path] : step_files(dir))
    if (candidates.empty() || path != candidates[0]) candidates.push_back(path);
  for (const std::string& path : candidates) {
    try {
      CheckpointData c = load_checkpoint(path);
      HPCT_CHECK(c.resume, path, ": not a periodic checkpoint (no /train group)");
      return LoadedCheckpoint{path, std::move(c)};
    } catch (const std::exception& e) {
      log::warn(cat(e.what(), "; trying the previous checkpoint"));
    }
  }
  return std::nullopt;
}

void drop_checkpoints_after(const std::string& run_dir, std::int64_t step) {
  std::error_code ec;
  for (const auto& [s, path] : step_files(checkpoints_dir(run_dir)))
    if (s > step) fs::remove(path, ec);
}

}  // namespace hpct::train
