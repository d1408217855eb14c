#include "data/hdf5.hpp"

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include "core/atomic_file.hpp"
#include "core/error.hpp"

namespace hpct::data::h5 {
namespace {

// HDF5's exit handler closes the files still open, and crashes (H5F__close_cb) on one whose close
// failed, as on a full disk: hpctrain closes every file itself (RAII), so the handler is not needed.
// Before main, so before any other HDF5 call.
const bool kNoHdf5AtExit = (H5dont_atexit(), true);

// The innermost description on HDF5's error stack (e.g. "unable to lock file, errno = 11"), so an
// open/create failure can say why without printing the whole stack.
herr_t walk_first(unsigned n, const H5E_error2_t* e, void* data) {
  if (n == 0 && e != nullptr && e->desc != nullptr) *static_cast<std::string*>(data) = e->desc;
  return 0;
}
std::string hdf5_reason() {
  std::string s;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_first, &s);
  if (s.empty()) return s;
  // Parallel file systems without flock support are a common cause on clusters.
  if (s.find("lock") != std::string::npos)
    s += "; on file systems without locking set HDF5_USE_FILE_LOCKING=FALSE";
  return " (" + s + ")";
}

std::string ds_ctx(const File& f, const std::string& path) {
  return cat(f.path(), ": dataset ", path);
}
std::string attr_ctx(const File& f, const std::string& obj, const std::string& name) {
  return cat(f.path(), ": attribute '", name, "' of ", obj);
}

Handle open_object(const File& f, const std::string& path) {
  HPCT_CHECK(exists(f, path), f.path(), ": no object ", path);
  Handle h(H5Oopen(f.id(), path.c_str(), H5P_DEFAULT), H5Oclose);
  HPCT_CHECK(h.valid(), f.path(), ": cannot open ", path);
  return h;
}

Handle open_dataset(const File& f, const std::string& path) {
  HPCT_CHECK(exists(f, path), f.path(), ": no dataset ", path);
  HPCT_CHECK(is_dataset(f, path), f.path(), ": ", path, " is not a dataset");
  Handle d(H5Dopen2(f.id(), path.c_str(), H5P_DEFAULT), H5Dclose);
  HPCT_CHECK(d.valid(), ds_ctx(f, path), ": cannot open");
  return d;
}

Handle open_attr(const File& f, const std::string& obj, const std::string& name) {
  HPCT_CHECK(has_attr(f, obj, name), f.path(), ": no attribute '", name, "' on ", obj);
  Handle a(H5Aopen_by_name(f.id(), obj.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  HPCT_CHECK(a.valid(), attr_ctx(f, obj, name), ": cannot open");
  return a;
}

TypeClass classify(hid_t type) {
  switch (H5Tget_class(type)) {
    case H5T_INTEGER: return TypeClass::integer;
    case H5T_FLOAT: return TypeClass::floating;
    case H5T_STRING: return TypeClass::string;
    default: return TypeClass::other;
  }
}

std::vector<std::int64_t> space_shape(hid_t space) {
  const int rank = H5Sget_simple_extent_ndims(space);
  if (rank <= 0) return {};
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  return {dims.begin(), dims.end()};
}

// Bytes of memory the system can still give (MemAvailable), or 0 when unknown.
std::uint64_t available_memory() {
  std::FILE* in = std::fopen("/proc/meminfo", "r");
  if (!in) return 0;
  char line[256];
  unsigned long long kb = 0;
  while (std::fgets(line, sizeof line, in))
    if (std::sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
  std::fclose(in);
  return static_cast<std::uint64_t>(kb) * 1024;
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
  int u = 0;
  while (b >= 1000 && u < 6) b /= 1000, ++u;
  char s[32];
  std::snprintf(s, sizeof s, "%.3g %s", b, units[u]);
  return s;
}

// A file's dataset may declare any shape: a few bytes can describe 10^12 rows, which HDF5 would then
// "read" as fill values. Before allocating, the declared bytes must be stored in the file (unless the
// dataset is compressed, when only its filters know) and fit in the memory available.
// file_bytes: an element's size in the file, memory_bytes: in memory.
void check_declared_size(const File& f, const std::string& path, hid_t dataset, std::uint64_t elements,
                         std::size_t file_bytes, std::size_t memory_bytes, const std::vector<std::int64_t>& shape) {
  const double declared = static_cast<double>(elements) * static_cast<double>(file_bytes);
  const double want = static_cast<double>(elements) * static_cast<double>(memory_bytes);
  std::string dims;
  for (const auto s : shape) dims += (dims.empty() ? "" : ", ") + std::to_string(s);
  Handle plist(H5Dget_create_plist(dataset), H5Pclose);
  const bool filtered = plist.valid() && H5Pget_nfilters(plist.get()) > 0;
  const auto stored = static_cast<double>(H5Dget_storage_size(dataset));
  HPCT_CHECK(filtered || stored >= declared, ds_ctx(f, path), ": declares [", dims, "] (", human_bytes(declared),
             ") but the file stores ", human_bytes(stored), " of it: the file is truncated or not a data file");
  const std::uint64_t free_bytes = available_memory();
  HPCT_CHECK(free_bytes == 0 || want <= static_cast<double>(free_bytes), ds_ctx(f, path), ": [", dims, "] needs ",
             human_bytes(want), " of memory, more than the ", human_bytes(static_cast<double>(free_bytes)),
             " available (stream it with --data.stream, or use a node with more memory)");
}

template <class T>
std::vector<T> read_numeric(const File& f, const std::string& path, hid_t mem_type) {
  Quiet q;
  Handle d = open_dataset(f, path);
  Handle type(H5Dget_type(d.get()), H5Tclose);
  const TypeClass c = classify(type.get());
  HPCT_CHECK(c == TypeClass::integer || c == TypeClass::floating, ds_ctx(f, path),
             ": expected numbers, found ", to_string(c));
  Handle space(H5Dget_space(d.get()), H5Sclose);
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  HPCT_CHECK(n >= 0, ds_ctx(f, path), ": cannot read its shape");
  check_declared_size(f, path, d.get(), static_cast<std::uint64_t>(n), H5Tget_size(type.get()), sizeof(T),
                      space_shape(space.get()));
  std::vector<T> out(static_cast<std::size_t>(n));
  if (n == 0) return out;  // an empty read needs no buffer, and HDF5 rejects a null one
  HPCT_CHECK(H5Dread(d.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) >= 0,
             ds_ctx(f, path), ": read failed", hdf5_reason());
  return out;
}

Handle make_space(const std::vector<std::int64_t>& shape) {
  if (shape.empty()) return Handle(H5Screate(H5S_SCALAR), H5Sclose);
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  return Handle(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
}

template <class T>
void write_numeric(const File& f, const std::string& path, const std::vector<std::int64_t>& shape,
                   const std::vector<T>& values, hid_t file_type, hid_t mem_type) {
  Quiet q;
  std::int64_t count = 1;
  for (auto s : shape) {
    HPCT_CHECK(s >= 0, ds_ctx(f, path), ": negative dimension ", s);
    count *= s;
  }
  HPCT_CHECK(count == static_cast<std::int64_t>(values.size()), ds_ctx(f, path), ": shape holds ",
             count, " values but ", values.size(), " were given");
  HPCT_CHECK(!exists(f, path), ds_ctx(f, path), ": already exists");
  Handle space = make_space(shape);
  HPCT_CHECK(space.valid(), ds_ctx(f, path), ": cannot create dataspace");
  // Intermediate groups are created on demand, so "/standardization/x_mean" needs no prior group.
  Handle lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  H5Pset_create_intermediate_group(lcpl.get(), 1);
  Handle d(H5Dcreate2(f.id(), path.c_str(), file_type, space.get(), lcpl.get(), H5P_DEFAULT,
                      H5P_DEFAULT),
           H5Dclose);
  HPCT_CHECK(d.valid(), ds_ctx(f, path), ": cannot create", hdf5_reason());
  if (count == 0) return;
  HPCT_CHECK(H5Dwrite(d.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) >= 0,
             ds_ctx(f, path), ": write failed", hdf5_reason());
}

// Creates (replacing any existing) attribute `name` on obj with this type and dataspace.
Handle create_attr(const File& f, const std::string& obj, const std::string& name, hid_t type,
                   hid_t space) {
  if (has_attr(f, obj, name)) {
    HPCT_CHECK(H5Adelete_by_name(f.id(), obj.c_str(), name.c_str(), H5P_DEFAULT) >= 0,
               attr_ctx(f, obj, name), ": cannot replace");
  }
  Handle a(H5Acreate_by_name(f.id(), obj.c_str(), name.c_str(), type, space, H5P_DEFAULT,
                             H5P_DEFAULT, H5P_DEFAULT),
           H5Aclose);
  HPCT_CHECK(a.valid(), attr_ctx(f, obj, name), ": cannot create", hdf5_reason());
  return a;
}

herr_t collect_name(hid_t, const char* name, const H5L_info_t*, void* data) {
  static_cast<std::vector<std::string>*>(data)->emplace_back(name);
  return 0;
}
herr_t collect_attr_name(hid_t, const char* name, const H5A_info_t*, void* data) {
  static_cast<std::vector<std::string>*>(data)->emplace_back(name);
  return 0;
}

}  // namespace

// ---- Handle, Quiet ----

Handle& Handle::operator=(Handle&& o) noexcept {
  if (this != &o) {
    reset();
    id_ = o.id_;
    closer_ = o.closer_;
    o.id_ = H5I_INVALID_HID;
  }
  return *this;
}

void Handle::reset() {
  if (valid() && closer_ != nullptr) {
    Quiet q;
    closer_(id_);
  }
  id_ = H5I_INVALID_HID;
}

herr_t Handle::close() {
  herr_t status = 0;
  if (valid() && closer_ != nullptr) status = closer_(id_);
  id_ = H5I_INVALID_HID;
  return status;
}

Quiet::Quiet() {
  H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}
Quiet::~Quiet() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }

// ---- File ----

File File::open_read(const std::string& path) {
  Quiet q;
  std::error_code ec;
  HPCT_CHECK(std::filesystem::exists(path, ec), path, ": no such file");
  HPCT_CHECK(!std::filesystem::is_directory(path, ec), path, ": is a directory, not an HDF5 file");
  HPCT_CHECK(H5Fis_hdf5(path.c_str()) > 0, path, ": not an HDF5 file");
  File f;
  f.path_ = path;
  f.h_ = Handle(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  HPCT_CHECK(f.h_.valid(), path, ": cannot open HDF5 file", hdf5_reason());
  return f;
}

File File::create(const std::string& path, const std::string& display) {
  Quiet q;
  File f;
  f.path_ = display.empty() ? path : display;
  f.h_ = Handle(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
  HPCT_CHECK(f.h_.valid(), f.path_, ": cannot create HDF5 file", hdf5_reason());
  return f;
}

void File::close() {
  if (!h_.valid()) return;
  Quiet q;
  HPCT_CHECK(H5Fflush(h_.get(), H5F_SCOPE_LOCAL) >= 0, path_, ": flush failed", hdf5_reason());
  HPCT_CHECK(h_.close() >= 0, path_, ": close failed", hdf5_reason());
}

std::string to_string(TypeClass c) {
  switch (c) {
    case TypeClass::integer: return "integer";
    case TypeClass::floating: return "float";
    case TypeClass::string: return "string";
    default: return "a non-numeric type";
  }
}

std::int64_t DatasetInfo::elements() const {
  std::int64_t n = 1;
  for (auto s : shape) n *= s;
  return n;
}

// ---- links and groups ----

bool exists(const File& f, const std::string& path) {
  Quiet q;
  if (path == "/" || path.empty()) return true;
  // H5Lexists requires every parent to exist, so check the prefixes in turn.
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    const std::string prefix = path.substr(0, pos);
    if (prefix.empty() || prefix == "/") continue;
    if (H5Lexists(f.id(), prefix.c_str(), H5P_DEFAULT) <= 0) return false;
  }
  return H5Oexists_by_name(f.id(), path.c_str(), H5P_DEFAULT) > 0;
}

static H5O_type_t object_type(const File& f, const std::string& path) {
  if (!exists(f, path)) return H5O_TYPE_UNKNOWN;
  Quiet q;
  H5O_info_t info;
  if (H5Oget_info_by_name2(f.id(), path.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0)
    return H5O_TYPE_UNKNOWN;
  return info.type;
}

bool is_dataset(const File& f, const std::string& path) {
  return object_type(f, path) == H5O_TYPE_DATASET;
}
bool is_group(const File& f, const std::string& path) {
  return object_type(f, path) == H5O_TYPE_GROUP;
}

void create_group(const File& f, const std::string& path, bool track_order) {
  Quiet q;
  Handle gcpl(H5Pcreate(H5P_GROUP_CREATE), H5Pclose);
  if (track_order)
    H5Pset_link_creation_order(gcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
  Handle lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  H5Pset_create_intermediate_group(lcpl.get(), 1);
  Handle g(H5Gcreate2(f.id(), path.c_str(), lcpl.get(), gcpl.get(), H5P_DEFAULT), H5Gclose);
  HPCT_CHECK(g.valid(), f.path(), ": cannot create group ", path, hdf5_reason());
}

std::vector<std::string> members(const File& f, const std::string& group) {
  Quiet q;
  HPCT_CHECK(exists(f, group), f.path(), ": no group ", group);
  HPCT_CHECK(is_group(f, group), f.path(), ": ", group, " is not a group");
  Handle g(H5Gopen2(f.id(), group.c_str(), H5P_DEFAULT), H5Gclose);
  HPCT_CHECK(g.valid(), f.path(), ": cannot open group ", group);
  // Creation order needs the index (files from other writers, e.g. h5py without track_order,
  // lack it): fall back to name order there.
  H5_index_t index = H5_INDEX_NAME;
  Handle gcpl(H5Gget_create_plist(g.get()), H5Pclose);
  unsigned flags = 0;
  if (gcpl.valid() && H5Pget_link_creation_order(gcpl.get(), &flags) >= 0 &&
      (flags & H5P_CRT_ORDER_INDEXED) != 0)
    index = H5_INDEX_CRT_ORDER;
  std::vector<std::string> names;
  hsize_t idx = 0;
  HPCT_CHECK(H5Literate(g.get(), index, H5_ITER_INC, &idx, collect_name, &names) >= 0, f.path(),
             ": cannot list group ", group);
  return names;
}

// ---- datasets ----

DatasetInfo dataset_info(const File& f, const std::string& path) {
  Quiet q;
  Handle d = open_dataset(f, path);
  Handle type(H5Dget_type(d.get()), H5Tclose);
  Handle space(H5Dget_space(d.get()), H5Sclose);
  HPCT_CHECK(type.valid() && space.valid(), ds_ctx(f, path), ": cannot read type or shape");
  DatasetInfo info;
  info.shape = space_shape(space.get());
  info.type = classify(type.get());
  info.type_size = H5Tget_size(type.get());
  return info;
}

std::vector<float> read_float(const File& f, const std::string& path) {
  return read_numeric<float>(f, path, H5T_NATIVE_FLOAT);
}
std::vector<double> read_double(const File& f, const std::string& path) {
  return read_numeric<double>(f, path, H5T_NATIVE_DOUBLE);
}
std::vector<std::int32_t> read_int32(const File& f, const std::string& path) {
  return read_numeric<std::int32_t>(f, path, H5T_NATIVE_INT32);
}
std::vector<std::int64_t> read_int64(const File& f, const std::string& path) {
  return read_numeric<std::int64_t>(f, path, H5T_NATIVE_INT64);
}

void read_float_rows(const File& f, const std::string& path, const std::vector<std::int64_t>& rows, float* out) {
  if (rows.empty()) return;
  Quiet q;
  Handle d = open_dataset(f, path);
  Handle space(H5Dget_space(d.get()), H5Sclose);
  const std::vector<std::int64_t> shape = space_shape(space.get());
  HPCT_CHECK(!shape.empty(), ds_ctx(f, path), ": a scalar has no rows");
  std::vector<hsize_t> start(shape.size(), 0), count(shape.begin(), shape.end());
  H5Sselect_none(space.get());
  for (std::size_t i = 0; i < rows.size();) {
    std::size_t j = i + 1;  // rows[i..j) is a run of consecutive rows
    while (j < rows.size() && rows[j] == rows[j - 1] + 1) ++j;
    HPCT_CHECK(rows[i] >= 0 && rows[j - 1] < shape[0] && (i == 0 || rows[i] > rows[i - 1]), ds_ctx(f, path),
               ": row ", rows[i], " is out of range or out of order (", shape[0], " rows)");
    start[0] = static_cast<hsize_t>(rows[i]);
    count[0] = static_cast<hsize_t>(j - i);
    HPCT_CHECK(H5Sselect_hyperslab(space.get(), H5S_SELECT_OR, start.data(), nullptr, count.data(), nullptr) >= 0,
               ds_ctx(f, path), ": cannot select rows", hdf5_reason());
    i = j;
  }
  const auto selected = static_cast<hsize_t>(H5Sget_select_npoints(space.get()));
  Handle mem(H5Screate_simple(1, &selected, nullptr), H5Sclose);
  HPCT_CHECK(H5Dread(d.get(), H5T_NATIVE_FLOAT, mem.get(), space.get(), H5P_DEFAULT, out) >= 0, ds_ctx(f, path),
             ": reading ", rows.size(), " rows failed", hdf5_reason());
}

void write(const File& f, const std::string& path, const std::vector<std::int64_t>& shape,
           const std::vector<float>& values) {
  write_numeric(f, path, shape, values, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT);
}
void write(const File& f, const std::string& path, const std::vector<std::int64_t>& shape,
           const std::vector<double>& values) {
  write_numeric(f, path, shape, values, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE);
}
void write(const File& f, const std::string& path, const std::vector<std::int64_t>& shape,
           const std::vector<std::int32_t>& values) {
  write_numeric(f, path, shape, values, H5T_STD_I32LE, H5T_NATIVE_INT32);
}
void write(const File& f, const std::string& path, const std::vector<std::int64_t>& shape,
           const std::vector<std::int64_t>& values) {
  write_numeric(f, path, shape, values, H5T_STD_I64LE, H5T_NATIVE_INT64);
}

// ---- attributes ----

bool has_attr(const File& f, const std::string& obj, const std::string& name) {
  Quiet q;
  if (!exists(f, obj)) return false;
  return H5Aexists_by_name(f.id(), obj.c_str(), name.c_str(), H5P_DEFAULT) > 0;
}

std::vector<std::string> attr_names(const File& f, const std::string& obj) {
  Quiet q;
  Handle o = open_object(f, obj);
  std::vector<std::string> names;
  hsize_t idx = 0;
  HPCT_CHECK(H5Aiterate2(o.get(), H5_INDEX_NAME, H5_ITER_INC, &idx, collect_attr_name, &names) >= 0,
             f.path(), ": cannot list the attributes of ", obj);
  return names;
}

AttrKind attr_kind(const File& f, const std::string& obj, const std::string& name) {
  Quiet q;
  Handle a = open_attr(f, obj, name);
  Handle type(H5Aget_type(a.get()), H5Tclose);
  Handle space(H5Aget_space(a.get()), H5Sclose);
  const TypeClass c = classify(type.get());
  const H5S_class_t sc = H5Sget_simple_extent_type(space.get());
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (c == TypeClass::string) return AttrKind::string;
  if (c == TypeClass::integer) {
    if (sc == H5S_SCALAR) return AttrKind::integer;
    if (sc == H5S_NULL || rank == 1) return AttrKind::integer_array;
  }
  if (c == TypeClass::floating && sc == H5S_SCALAR) return AttrKind::floating;
  return AttrKind::other;
}

std::string read_string_attr(const File& f, const std::string& obj, const std::string& name) {
  Quiet q;
  Handle a = open_attr(f, obj, name);
  Handle type(H5Aget_type(a.get()), H5Tclose);
  HPCT_CHECK(H5Tget_class(type.get()) == H5T_STRING, attr_ctx(f, obj, name),
             ": expected a string, found ", to_string(classify(type.get())));
  Handle space(H5Aget_space(a.get()), H5Sclose);
  HPCT_CHECK(H5Sget_simple_extent_npoints(space.get()) == 1, attr_ctx(f, obj, name),
             ": expected one string");
  if (H5Tis_variable_str(type.get()) > 0) {
    Handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mem.get(), H5T_VARIABLE);
    H5Tset_cset(mem.get(), H5Tget_cset(type.get()));
    char* p = nullptr;
    HPCT_CHECK(H5Aread(a.get(), mem.get(), &p) >= 0, attr_ctx(f, obj, name), ": read failed");
    std::string s = p != nullptr ? p : "";
    H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, &p);
    return s;
  }
  // Fixed length (e.g. numpy bytes from h5py): read the raw bytes, then drop the padding.
  const std::size_t size = H5Tget_size(type.get());
  std::string s(size, '\0');
  HPCT_CHECK(H5Aread(a.get(), type.get(), s.data()) >= 0, attr_ctx(f, obj, name), ": read failed");
  const auto end = s.find('\0');
  if (end != std::string::npos) s.resize(end);
  if (H5Tget_strpad(type.get()) == H5T_STR_SPACEPAD) {
    while (!s.empty() && s.back() == ' ') s.pop_back();
  }
  return s;
}

std::int64_t read_int64_attr(const File& f, const std::string& obj, const std::string& name) {
  Quiet q;
  Handle a = open_attr(f, obj, name);
  Handle type(H5Aget_type(a.get()), H5Tclose);
  HPCT_CHECK(H5Tget_class(type.get()) == H5T_INTEGER, attr_ctx(f, obj, name),
             ": expected an integer, found ", to_string(classify(type.get())));
  Handle space(H5Aget_space(a.get()), H5Sclose);
  HPCT_CHECK(H5Sget_simple_extent_npoints(space.get()) == 1, attr_ctx(f, obj, name),
             ": expected one value");
  std::int64_t v = 0;
  HPCT_CHECK(H5Aread(a.get(), H5T_NATIVE_INT64, &v) >= 0, attr_ctx(f, obj, name), ": read failed");
  return v;
}

double read_double_attr(const File& f, const std::string& obj, const std::string& name) {
  Quiet q;
  Handle a = open_attr(f, obj, name);
  Handle type(H5Aget_type(a.get()), H5Tclose);
  const TypeClass c = classify(type.get());
  HPCT_CHECK(c == TypeClass::floating || c == TypeClass::integer, attr_ctx(f, obj, name),
             ": expected a number, found ", to_string(c));
  Handle space(H5Aget_space(a.get()), H5Sclose);
  HPCT_CHECK(H5Sget_simple_extent_npoints(space.get()) == 1, attr_ctx(f, obj, name),
             ": expected one value");
  double v = 0;
  HPCT_CHECK(H5Aread(a.get(), H5T_NATIVE_DOUBLE, &v) >= 0, attr_ctx(f, obj, name), ": read failed");
  return v;
}

std::vector<std::int64_t> read_int64_array_attr(const File& f, const std::string& obj,
                                                const std::string& name) {
  Quiet q;
  Handle a = open_attr(f, obj, name);
  Handle type(H5Aget_type(a.get()), H5Tclose);
  HPCT_CHECK(H5Tget_class(type.get()) == H5T_INTEGER, attr_ctx(f, obj, name),
             ": expected integers, found ", to_string(classify(type.get())));
  Handle space(H5Aget_space(a.get()), H5Sclose);
  if (H5Sget_simple_extent_type(space.get()) == H5S_NULL) return {};  // h5py.Empty
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  HPCT_CHECK(n >= 0, attr_ctx(f, obj, name), ": cannot read its shape");
  std::vector<std::int64_t> v(static_cast<std::size_t>(n));
  if (n == 0) return v;
  HPCT_CHECK(H5Aread(a.get(), H5T_NATIVE_INT64, v.data()) >= 0, attr_ctx(f, obj, name),
             ": read failed");
  return v;
}

void write_attr(const File& f, const std::string& obj, const std::string& name,
                const std::string& value) {
  Quiet q;
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle a = create_attr(f, obj, name, type.get(), space.get());
  const char* p = value.c_str();
  HPCT_CHECK(H5Awrite(a.get(), type.get(), &p) >= 0, attr_ctx(f, obj, name), ": write failed");
}

void write_attr(const File& f, const std::string& obj, const std::string& name,
                std::int64_t value) {
  Quiet q;
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle a = create_attr(f, obj, name, H5T_STD_I64LE, space.get());
  HPCT_CHECK(H5Awrite(a.get(), H5T_NATIVE_INT64, &value) >= 0, attr_ctx(f, obj, name),
             ": write failed");
}

void write_attr(const File& f, const std::string& obj, const std::string& name, double value) {
  Quiet q;
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle a = create_attr(f, obj, name, H5T_IEEE_F64LE, space.get());
  HPCT_CHECK(H5Awrite(a.get(), H5T_NATIVE_DOUBLE, &value) >= 0, attr_ctx(f, obj, name),
             ": write failed");
}

void write_attr(const File& f, const std::string& obj, const std::string& name,
                const std::vector<std::int64_t>& value) {
  Quiet q;
  // An empty list is a zero-length 1-D space (as h5py writes it; it reads back as an empty array).
  Handle space = make_space({static_cast<std::int64_t>(value.size())});
  Handle a = create_attr(f, obj, name, H5T_STD_I64LE, space.get());
  if (value.empty()) return;
  HPCT_CHECK(H5Awrite(a.get(), H5T_NATIVE_INT64, value.data()) >= 0, attr_ctx(f, obj, name),
             ": write failed");
}

// ---- AtomicFile ----

AtomicFile::AtomicFile(const std::string& path)
    : path_(path), tmp_(temporary_path(path)) {
  file_ = File::create(tmp_, path_);
}

AtomicFile::~AtomicFile() {
  if (committed_) return;
  std::error_code ec;
  File discard = std::move(file_);  // closes, ignoring errors: we are already failing
  (void)discard;
  std::filesystem::remove(tmp_, ec);
}

void AtomicFile::commit() {
  file_.close();
  sync_file(tmp_, path_);  // the data on disk before the name points at it
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    const std::error_code err(errno, std::generic_category());
    fail(path_, ": cannot rename ", tmp_, " into place: ", err.message());
  }
  committed_ = true;
}

}  // namespace hpct::data::h5
