// The host allocator: alignment, and blocks of 2 MiB or more returned to the kernel when freed (a block
// left resident in malloc's heap kept the first training step's memory in the peak RSS for good).
#include <doctest/doctest.h>
#include <malloc.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "core/allocator.hpp"

namespace {

// Whether any mapping of this process (/proc/self/maps) holds address p.
bool is_mapped(const void* p) {
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    std::istringstream in(line);
    std::uintptr_t lo = 0, hi = 0;
    char dash = 0;
    in >> std::hex >> lo >> dash >> hi;
    if (a >= lo && a < hi) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("host allocator: 64-byte alignment, 2 MiB alignment for large blocks, which are unmapped when freed") {
  hpct::Allocator& alloc = hpct::host_allocator();
  CHECK(alloc.allocate(0) == nullptr);
  void* small = alloc.allocate(1000);
  REQUIRE(small);
  CHECK(reinterpret_cast<std::uintptr_t>(small) % 64 == 0);
  alloc.deallocate(small);

  // glibc raises its mmap threshold to the largest mmapped block freed (up to 32 MiB) and its trim
  // threshold to twice that, so in a long run a block of a few MiB from malloc comes from the heap and
  // stays resident once freed. Set both as they end up (restored below).
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);

  const std::size_t bytes = (std::size_t{6} << 20) + 12345;
  void* big = alloc.allocate(bytes);
  REQUIRE(big);
  CHECK(reinterpret_cast<std::uintptr_t>(big) % (std::size_t{2} << 20) == 0);
  std::memset(big, 7, bytes);  // usable to its last byte
  CHECK(static_cast<unsigned char*>(big)[bytes - 1] == 7);
  const char* middle = static_cast<const char*>(big) + bytes / 2;
  CHECK(is_mapped(middle));
  alloc.deallocate(big);
  CHECK_FALSE(is_mapped(middle));
  alloc.deallocate(nullptr);  // a no-op
  mallopt(M_MMAP_THRESHOLD, 128 << 10);  // glibc's defaults
  mallopt(M_TRIM_THRESHOLD, 128 << 10);
}
