#pragma once
// A small RAII layer over the HDF5 1.10 C API, used for data sets and checkpoints. Every failure
// throws hpct::Error naming the file and the object path ("data/x.h5: dataset /X: ..."); HDF5's own
// error-stack printing is silenced inside these calls so the user sees one line, not a stack dump.
// Object paths are absolute ("/X", "/params/layers.0.weight"); "/" is the file root.
#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

namespace hpct::data::h5 {

// Owns one HDF5 identifier and closes it with the matching H5*close. Move-only.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  Handle(Handle&& o) noexcept : id_(o.id_), closer_(o.closer_) { o.id_ = H5I_INVALID_HID; }
  Handle& operator=(Handle&& o) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset();           // closes now, ignoring errors (destructor path)
  herr_t close();         // closes now and returns H5*close's status (for files: errors matter)

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

// Silences HDF5's automatic error printing for its lifetime and restores the previous handler.
class Quiet {
 public:
  Quiet();
  ~Quiet();
  Quiet(const Quiet&) = delete;
  Quiet& operator=(const Quiet&) = delete;

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

class File {
 public:
  File() = default;
  static File open_read(const std::string& path);  // error if missing or not HDF5
  // Truncates an existing file. `display` is the name used in messages (default: path); AtomicFile
  // passes the final path so users never see the temporary name.
  static File create(const std::string& path, const std::string& display = "");
  hid_t id() const { return h_.get(); }
  const std::string& path() const { return path_; }  // the display name
  bool is_open() const { return h_.valid(); }
  void close();  // flushes and closes; throws naming the file when that fails

 private:
  Handle h_;
  std::string path_;
};

enum class TypeClass { integer, floating, string, other };
std::string to_string(TypeClass c);

struct DatasetInfo {
  std::vector<std::int64_t> shape;  // empty for a scalar dataset
  TypeClass type = TypeClass::other;
  std::size_t type_size = 0;        // bytes per element in the file
  std::int64_t elements() const;
};

// Links and groups.
bool exists(const File& f, const std::string& path);          // every component of path exists
bool is_dataset(const File& f, const std::string& path);
bool is_group(const File& f, const std::string& path);
// Creates a group; with track_order its members are listed in creation order by members().
void create_group(const File& f, const std::string& path, bool track_order = false);
// Names of a group's members: in creation order when the group tracks it, else by name.
std::vector<std::string> members(const File& f, const std::string& group);

// Datasets. Reads convert from the stored numeric type (HDF5 conversion); errors name the dataset.
DatasetInfo dataset_info(const File& f, const std::string& path);
std::vector<float> read_float(const File& f, const std::string& path);
std::vector<double> read_double(const File& f, const std::string& path);
std::vector<std::int32_t> read_int32(const File& f, const std::string& path);
std::vector<std::int64_t> read_int64(const File& f, const std::string& path);
// Rows `rows` (strictly increasing indices along the first dimension) of a numeric dataset of any
// rank, converted to float32, into out (rows.size() x the product of the other dimensions). One
// H5Dread of a union of hyperslabs, one per run of consecutive rows.
void read_float_rows(const File& f, const std::string& path, const std::vector<std::int64_t>& rows, float* out);
// Writes a new dataset of this shape (empty shape: scalar); values.size() must match the shape.
void write(const File& f, const std::string& path, const std::vector<std::int64_t>& shape,
           const std::vector<float>& values);
void write(const File& f, const std::string& path, const std::vector<std::int64_t>& shape,
           const std::vector<double>& values);
void write(const File& f, const std::string& path, const std::vector<std::int64_t>& shape,
           const std::vector<std::int32_t>& values);
void write(const File& f, const std::string& path, const std::vector<std::int64_t>& shape,
           const std::vector<std::int64_t>& values);

// Attributes on the root ("/") or on a group or dataset. Strings are written as variable-length
// UTF-8 (h5py reads them as str); both variable- and fixed-length strings are read.
enum class AttrKind { string, integer, floating, integer_array, other };
bool has_attr(const File& f, const std::string& obj, const std::string& name);
std::vector<std::string> attr_names(const File& f, const std::string& obj);  // by name
// integer_array: a 1-D (or empty) integer attribute; integer/floating: a scalar or one element.
AttrKind attr_kind(const File& f, const std::string& obj, const std::string& name);
std::string read_string_attr(const File& f, const std::string& obj, const std::string& name);
std::int64_t read_int64_attr(const File& f, const std::string& obj, const std::string& name);
double read_double_attr(const File& f, const std::string& obj, const std::string& name);
std::vector<std::int64_t> read_int64_array_attr(const File& f, const std::string& obj,
                                                const std::string& name);
void write_attr(const File& f, const std::string& obj, const std::string& name,
                const std::string& value);
void write_attr(const File& f, const std::string& obj, const std::string& name, std::int64_t value);
void write_attr(const File& f, const std::string& obj, const std::string& name, double value);
void write_attr(const File& f, const std::string& obj, const std::string& name,
                const std::vector<std::int64_t>& value);
// Spelled-out overload so a string literal does not pick the bool/pointer conversion.
inline void write_attr(const File& f, const std::string& obj, const std::string& name,
                       const char* value) {
  write_attr(f, obj, name, std::string(value));
}

// Writes "<path>.tmp.<pid>" and renames it onto path on commit(), so readers never see a partial
// file and a failure never clobbers an existing one. Without commit() the temporary is removed.
class AtomicFile {
 public:
  explicit AtomicFile(const std::string& path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  File& file() { return file_; }
  const std::string& temp_path() const { return tmp_; }
  void commit();  // close + rename; errors name the final path

 private:
  std::string path_, tmp_;
  File file_;
  bool committed_ = false;
};

}  // namespace hpct::data::h5
