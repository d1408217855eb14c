#pragma once
// Buffer: owning, move-only memory from an Allocator, exposed as a Tensor view. Memory starts
// uninitialised (fill it on the backend where zeros are needed).
#include <utility>

#include "core/allocator.hpp"
#include "core/tensor.hpp"

namespace hpct {

class Buffer {
 public:
  Buffer() = default;
  Buffer(Allocator& alloc, Shape shape, DType dtype) : alloc_(&alloc) {
    t_ = Tensor(nullptr, shape, dtype, alloc.device());
    capacity_ = t_.bytes();
    t_.data = alloc.allocate(capacity_);
  }
  ~Buffer() { release(); }
  Buffer(Buffer&& o) noexcept { *this = std::move(o); }
  Buffer& operator=(Buffer&& o) noexcept {
    if (this != &o) {
      release();
      alloc_ = std::exchange(o.alloc_, nullptr);
      t_ = std::exchange(o.t_, Tensor{});
      capacity_ = std::exchange(o.capacity_, 0);
    }
    return *this;
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  // Gives the buffer this shape and dtype, reallocating only when the bytes outgrow the capacity;
  // the contents are whatever was there. For buffers sized once outside a step (batches, staging);
  // a step's activations come from a Workspace, which never allocates after the first step.
  Tensor& ensure(Allocator& alloc, Shape shape, DType dtype) {
    const std::size_t need = static_cast<std::size_t>(shape.numel()) * size_of(dtype);
    if (alloc_ != &alloc || need > capacity_) *this = Buffer(alloc, shape, dtype);
    t_.shape = shape;
    t_.dtype = dtype;
    return t_;
  }

  const Tensor& tensor() const { return t_; }
  operator const Tensor&() const { return t_; }  // NOLINT: a Buffer is usable wherever a view is
  template <class T>
  T* as() const { return t_.as<T>(); }

 private:
  void release() noexcept {
    if (alloc_ && t_.data) alloc_->deallocate(t_.data);
    t_.data = nullptr;
  }
  Allocator* alloc_ = nullptr;
  Tensor t_;
  std::size_t capacity_ = 0;
};

}  // namespace hpct
