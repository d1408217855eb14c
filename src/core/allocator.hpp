#pragma once
// Where a Buffer's memory comes from. Each backend provides one for its device; host_allocator() is
// the process's aligned host memory.
#include <cstddef>

#include "core/device.hpp"

namespace hpct {

class Allocator {
 public:
  virtual ~Allocator() = default;
  // Returns `bytes` of zeroed memory (nullptr for 0 bytes); throws hpct::Error when out of memory.
  virtual void* allocate(std::size_t bytes) = 0;
  virtual void deallocate(void* p) noexcept = 0;
  virtual Device device() const = 0;
};

Allocator& host_allocator();

}  // namespace hpct
