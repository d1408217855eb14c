#include "train/checkpoint.hpp"

#include <set>

#include "core/error.hpp"
#include "data/hdf5.hpp"

namespace hpct::train {
namespace h5 = hpct::data::h5;
namespace {

constexpr const char* kFormat = "hpctrain-checkpoint";
constexpr std::int64_t kVersion = 1;

void write_vector(const h5::File& f, const std::string& path, const std::vector<float>& v) {
  h5::write(f, path, {static_cast<std::int64_t>(v.size())}, v);
}

std::vector<float> read_optional(const h5::File& f, const std::string& path) {
  if (!h5::exists(f, path)) return {};
  return h5::read_float(f, path);
}

void require_attr(const h5::File& f, const std::string& obj, const std::string& name) {
  HPCT_CHECK(h5::has_attr(f, obj, name), f.path(), ": checkpoint has no attribute '", name,
             "' on ", obj);
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
    std::visit([&](const auto& v) { h5::write_attr(f, "/model", name, v); }, value);
  }

  // Creation order is tracked so load returns the parameters in model order.
  h5::create_group(f, "/params", /*track_order=*/true);
  std::set<std::string> seen;
  for (const auto& p : ckpt.params) {
    HPCT_CHECK(!p.name.empty() && p.name != "." && p.name.find('/') == std::string::npos, path,
               ": invalid parameter name '", p.name, "' (must be non-empty, without '/')");
    HPCT_CHECK(seen.insert(p.name).second, path, ": duplicate parameter name '", p.name, "'");
    h5::write(f, "/params/" + p.name, p.shape, p.values);
  }

  h5::create_group(f, "/standardization");
  const Standardization& s = ckpt.standardization;
  write_vector(f, "/standardization/x_mean", s.x_mean);
  write_vector(f, "/standardization/x_std", s.x_std);
  write_vector(f, "/standardization/y_mean", s.y_mean);
  write_vector(f, "/standardization/y_std", s.y_std);
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
    a.values = h5::read_float(f, p);
    c.params.push_back(std::move(a));
  }

  // Standardization is optional on load: an absent group or dataset means "off" for that part.
  Standardization& s = c.standardization;
  s.x_mean = read_optional(f, "/standardization/x_mean");
  s.x_std = read_optional(f, "/standardization/x_std");
  s.y_mean = read_optional(f, "/standardization/y_mean");
  s.y_std = read_optional(f, "/standardization/y_std");
  return c;
}

}  // namespace hpct::train
