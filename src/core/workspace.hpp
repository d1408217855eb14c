#pragma once
// A step's activation memory: a bump arena over one allocation, reset at the start of each forward.
// Forward outputs, saved contexts and backward gradients of one step are carved from it in order,
// so after the first step (which sizes it) a step allocates nothing. In stream order reuse is safe:
// the next step's kernels are enqueued after the previous step's on the same stream.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/buffer.hpp"

namespace hpct {

class Workspace {
 public:
  explicit Workspace(Allocator& alloc) : alloc_(&alloc) {}

  // Uninitialised memory for a tensor, valid until the next reset(). Past the end of the arena it
  // takes an extra block (first steps only); reset() then grows the arena to the high-water mark.
  Tensor alloc(Shape shape, DType dtype) {
    const std::size_t bytes = round_up(static_cast<std::size_t>(shape.numel()) * size_of(dtype));
    used_ += bytes;
    high_water_ = used_ > high_water_ ? used_ : high_water_;
    if (offset_ + bytes <= arena_.tensor().bytes()) {
      Tensor t(static_cast<char*>(arena_.tensor().data) + offset_, shape, dtype, alloc_->device());
      offset_ += bytes;
      return t;
    }
    extra_.push_back(raw(bytes));
    ++growths_;
    return Tensor(extra_.back().tensor().data, shape, dtype, alloc_->device());
  }
  // Every tensor handed out so far may be reused.
  void reset() {
    if (!extra_.empty()) {
      extra_.clear();
      arena_ = Buffer();
      arena_ = raw(high_water_);
    }
    offset_ = 0;
    used_ = 0;
  }
  std::size_t capacity() const { return arena_.tensor().bytes(); }
  std::size_t high_water() const { return high_water_; }
  // Allocations past the arena so far: constant once the workspace is sized.
  std::int64_t growths() const { return growths_; }

 private:
  Buffer raw(std::size_t bytes) { return Buffer(*alloc_, Shape{static_cast<std::int64_t>(bytes / 4)}, DType::i32); }
  static std::size_t round_up(std::size_t b) { return (b + 255) / 256 * 256; }  // 256-byte alignment
  Allocator* alloc_;
  Buffer arena_;
  std::vector<Buffer> extra_;
  std::size_t offset_ = 0, used_ = 0, high_water_ = 0;
  std::int64_t growths_ = 0;
};

}  // namespace hpct
