#pragma once
// Tensor: a non-owning view (data pointer, shape, dtype, device). Copying a Tensor copies the view,
// never the data. Buffer (buffer.hpp) owns memory and hands out Tensors.
#include <cstdint>

#include "core/device.hpp"
#include "core/dtype.hpp"
#include "core/error.hpp"
#include "core/shape.hpp"

namespace hpct {

struct Tensor {
  void* data = nullptr;
  Shape shape;
  DType dtype = DType::f32;
  Device device;

  Tensor() = default;
  Tensor(void* d, Shape s, DType t, Device dev = {}) : data(d), shape(s), dtype(t), device(dev) {}

  bool empty() const { return data == nullptr || numel() == 0; }
  std::int64_t numel() const { return shape.numel(); }
  std::size_t bytes() const { return static_cast<std::size_t>(numel()) * size_of(dtype); }
  int rank() const { return shape.rank(); }
  std::int64_t dim(int i) const { return shape[i < 0 ? shape.rank() + i : i]; }
  // A tensor seen as a matrix: all leading dimensions folded into rows, the last one is columns.
  std::int64_t cols() const { return shape.rank() ? shape.back() : 1; }
  std::int64_t rows() const { return cols() ? numel() / cols() : 0; }

  // Host access: throws unless the memory is host memory the program may touch directly. Device
  // memory (a GPU's, or the asynchronous CPU backend's) is read through Backend::read_to_host.
  template <class T>
  T* as() const {
    HPCT_CHECK(device.host_accessible(), "host access to ", device.str(), " memory (", shape.str(),
               "): copy it to the host first");
    return ptr<T>();
  }
  float* f32() const { return as<float>(); }
  // Kernel access: the typed pointer, wherever the memory is (a kernel of the backend that owns it).
  template <class T>
  T* ptr() const {
    HPCT_CHECK(dtype == dtype_of<T>(), "tensor of ", name_of(dtype), " used as ", name_of(dtype_of<T>()));
    return static_cast<T*>(data);
  }

  // Same data, another shape with the same number of elements.
  Tensor view(Shape s) const {
    HPCT_CHECK(s.numel() == numel(), "cannot view ", shape.str(), " as ", s.str());
    return {data, s, dtype, device};
  }
  // Rows [begin, end) along the first dimension.
  Tensor slice(std::int64_t begin, std::int64_t end) const {
    HPCT_CHECK(rank() >= 1 && 0 <= begin && begin <= end && end <= shape[0], "slice [", begin, ", ", end,
               ") out of range for ", shape.str());
    Shape s = shape;
    s[0] = end - begin;
    const std::int64_t row = shape[0] ? numel() / shape[0] : 0;
    return {static_cast<char*>(data) + begin * row * static_cast<std::int64_t>(size_of(dtype)), s, dtype,
            device};
  }
  // Elements [begin, begin + count) of the flattened tensor, as a 1-D view.
  Tensor flat_range(std::int64_t begin, std::int64_t count) const {
    HPCT_CHECK(0 <= begin && count >= 0 && begin + count <= numel(), "range [", begin, ", ", begin + count,
               ") out of ", numel(), " elements");
    return {static_cast<char*>(data) + begin * static_cast<std::int64_t>(size_of(dtype)), Shape{count}, dtype,
            device};
  }
};

}  // namespace hpct
