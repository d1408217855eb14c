#include "core/log.hpp"

#include <unistd.h>

#include <cerrno>
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

void warn(const std::string& line) { error_line(settings().prefix + "warning: " + line); }

void error_line(const std::string& line) {
  std::lock_guard lock(output_mutex());
  std::cerr << std::flush;
  const std::string text = line + '\n';
  for (std::size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(2, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // stderr is gone: nothing more to do
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace hpct::log
