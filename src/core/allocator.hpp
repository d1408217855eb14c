#pragma once
// Where a Buffer's memory comes from. Each backend provides one for its device; host_allocator() is
// the process's aligned host memory.
#include <cstddef>

#include "core/device.hpp"

namespace hpct {

class Allocator {
 public:
  virtual ~Allocator() = default;
  // Returns `bytes` of uninitialised memory (nullptr for 0 bytes); throws hpct::Error when out of
  // memory. Callers that need zeros fill on the stream (a device allocator must not pay a memset).
  virtual void* allocate(std::size_t bytes) = 0;
  virtual void deallocate(void* p) noexcept = 0;
  virtual Device device() const = 0;
};

// Host memory (cpu device), 64-byte aligned, huge pages for large blocks.
Allocator& host_allocator();

}  // namespace hpct
