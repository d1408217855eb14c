#pragma once
#include <string>

namespace hpct {

enum class DeviceKind { cpu, cuda };

struct Device {
  DeviceKind kind = DeviceKind::cpu;
  int index = 0;

  bool is_cpu() const { return kind == DeviceKind::cpu; }
  std::string str() const { return kind == DeviceKind::cpu ? std::string("cpu") : std::string("cuda:").append(std::to_string(index)); }
  friend bool operator==(const Device&, const Device&) = default;
};

}  // namespace hpct
