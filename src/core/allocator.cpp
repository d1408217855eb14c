#include "core/allocator.hpp"

#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <unordered_map>

#include "core/error.hpp"

namespace hpct {
namespace {

// Buffers from this size on are placed on 2 MiB boundaries and offered to the kernel as transparent
// huge pages (Linux in its default "madvise" mode gives them only on request): a layer's activations
// are megabytes, and gemm packing walks them row by row, one TLB entry per 4 KiB page otherwise.
// They are mapped and unmapped here rather than by malloc: glibc keeps a freed block of the heap
// resident (its mmap threshold rises to the largest block freed, so the next ones come from the heap),
// and a workspace's first step, whose blocks are freed once the arena is sized, stayed resident (with
// validation's own workspace, since removed, the LM's peak RSS was 493 MiB where 303 now suffice).
constexpr std::size_t kHugePage = std::size_t{2} << 20;

// 64-byte alignment: one cache line, and enough for any SIMD load.
class HostAllocator final : public Allocator {
 public:
  void* allocate(std::size_t bytes) override {
    if (bytes == 0) return nullptr;
    if (bytes < kHugePage) {
      void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
      HPCT_CHECK(p, "out of host memory allocating ", bytes, " bytes");
      return p;
    }
    // Map one huge page more than needed, then unmap the slack before the first boundary and after the
    // block: what is left starts on a 2 MiB boundary.
    const std::size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage, span = rounded + kHugePage;
    void* m = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    HPCT_CHECK(m != MAP_FAILED, "out of host memory allocating ", bytes, " bytes");
    const auto base = reinterpret_cast<std::uintptr_t>(m);
    const std::uintptr_t start = (base + kHugePage - 1) / kHugePage * kHugePage;
    if (start > base) munmap(m, start - base);
    if (start + rounded < base + span) munmap(reinterpret_cast<void*>(start + rounded), base + span - start - rounded);
    void* p = reinterpret_cast<void*>(start);
    madvise(p, rounded, MADV_HUGEPAGE);  // a hint: failure (no THP support) changes nothing
    std::lock_guard<std::mutex> lock(mutex_);
    mapped_.emplace(p, rounded);
    return p;
  }
  void deallocate(void* p) noexcept override {
    if (!p) return;
    // Mapped blocks start on a 2 MiB boundary; any other pointer is malloc's, freed without the lock.
    if (reinterpret_cast<std::uintptr_t>(p) % kHugePage != 0) {
      std::free(p);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const auto it = mapped_.find(p);
      if (it != mapped_.end()) {
        munmap(p, it->second);
        mapped_.erase(it);
        return;
      }
    }
    std::free(p);
  }
  Device device() const override { return {}; }

 private:
  std::mutex mutex_;
  std::unordered_map<void*, std::size_t> mapped_;  // the mapped blocks and their lengths
};

}  // namespace

Allocator& host_allocator() {
  // Never destroyed: buffers of other static objects may be freed after this one's destructor would run.
  static HostAllocator* allocator = new HostAllocator;
  return *allocator;
}

}  // namespace hpct
