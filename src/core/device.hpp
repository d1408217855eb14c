#pragma once
#include <string>

namespace hpct {

// Where memory lives. cpu: host memory the program may read directly. cpu_async: host memory owned
// by the asynchronous CPU backend, treated exactly like a GPU's: only kernels touch it, the host reads
// it through an explicit copy and wait (Tensor::as throws on it), so the test suite proves the code
// would be correct on a device. cuda: GPU memory.
enum class DeviceKind { cpu, cpu_async, cuda };

struct Device {
  DeviceKind kind = DeviceKind::cpu;
  int index = 0;

  bool is_cpu() const { return kind == DeviceKind::cpu; }
  // Memory a CPU kernel can address (the CPU backends run their kernels on either).
  bool is_host_memory() const { return kind != DeviceKind::cuda; }
  // Memory host code may read and write without a copy.
  bool host_accessible() const { return kind == DeviceKind::cpu; }
  std::string str() const {
    switch (kind) {
      case DeviceKind::cpu: return "cpu";
      case DeviceKind::cpu_async: return "cpu-async";
      case DeviceKind::cuda: return "cuda:" + std::to_string(index);
    }
    return "?";
  }
  friend bool operator==(const Device&, const Device&) = default;
};

}  // namespace hpct
