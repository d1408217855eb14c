#include "core/allocator.hpp"

#include <sys/mman.h>

#include <cstdlib>

#include "core/error.hpp"

namespace hpct {
namespace {

// Buffers from this size on are placed on 2 MiB boundaries and offered to the kernel as transparent
// huge pages (Linux in its default "madvise" mode gives them only on request): a layer's activations
// are megabytes, and gemm packing walks them row by row, one TLB entry per 4 KiB page otherwise.
constexpr std::size_t kHugePage = std::size_t{2} << 20;

// 64-byte alignment: one cache line, and enough for any SIMD load.
class HostAllocator final : public Allocator {
 public:
  void* allocate(std::size_t bytes) override {
    if (bytes == 0) return nullptr;
    const bool huge = bytes >= kHugePage;
    const std::size_t align = huge ? kHugePage : 64, rounded = (bytes + align - 1) / align * align;
    void* p = std::aligned_alloc(align, rounded);
    HPCT_CHECK(p, "out of host memory allocating ", bytes, " bytes");
    if (huge) madvise(p, rounded, MADV_HUGEPAGE);  // a hint: failure (no THP support) changes nothing
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
