#include "core/allocator.hpp"

#include <cstdlib>
#include <cstring>

#include "core/error.hpp"

namespace hpct {
namespace {

// 64-byte alignment: one cache line, and enough for any SIMD load.
class HostAllocator final : public Allocator {
 public:
  void* allocate(std::size_t bytes) override {
    if (bytes == 0) return nullptr;
    const std::size_t rounded = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded);
    HPCT_CHECK(p, "out of host memory allocating ", bytes, " bytes");
    std::memset(p, 0, rounded);
    return p;
  }
  void deallocate(void* p) noexcept override { std::free(p); }
  Device device() const override { return {}; }
};

}  // namespace

Allocator& host_allocator() {
  static HostAllocator allocator;
  return allocator;
}

}  // namespace hpct
