#include "core/log.hpp"

#include <mutex>

namespace hpct::log {
namespace {
std::mutex& output_mutex() {
  static std::mutex m;
  return m;
}
}  // namespace

Settings& settings() {
  static Settings s;
  return s;
}

void info(const std::string& line) {
  if (settings().quiet) return;
  std::lock_guard lock(output_mutex());
  std::cout << line << '\n' << std::flush;
}

void warn(const std::string& line) {
  std::lock_guard lock(output_mutex());
  std::cerr << settings().prefix << "warning: " << line << '\n' << std::flush;
}

}  // namespace hpct::log
