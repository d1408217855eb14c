#include "core/log.hpp"

#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <mutex>

#include "core/error.hpp"

namespace hpct::log {
namespace {
std::mutex& output_mutex() {
  static std::mutex m;
  return m;
}
struct Sinks {
  std::ofstream file;
  bool status_shown = false;  // a status line waits on the terminal without its newline
};
Sinks& sinks() {
  static Sinks s;
  return s;
}
// Under the output mutex: clears a status line before a line of its own.
void clear_status() {
  if (!sinks().status_shown) return;
  std::cout << "\r\033[K";
  sinks().status_shown = false;
}
void to_file(const std::string& line) {
  if (sinks().file.is_open()) sinks().file << line << '\n' << std::flush;
}
}  // namespace

Settings& settings() {
  static Settings s;
  return s;
}

void info(const std::string& line) {
  std::lock_guard lock(output_mutex());
  to_file(line);
  if (settings().quiet) return;
  clear_status();
  std::cout << line << '\n' << std::flush;
}

void always(const std::string& line) {
  std::lock_guard lock(output_mutex());
  to_file(line);
  clear_status();
  std::cout << line << '\n' << std::flush;
}

void status(const std::string& line) {
  std::lock_guard lock(output_mutex());
  if (settings().quiet) return;
  std::cout << "\r\033[K" << line << std::flush;
  sinks().status_shown = true;
}

void set_file(const std::string& path) {
  std::lock_guard lock(output_mutex());
  sinks().file = std::ofstream();
  if (path.empty()) return;
  sinks().file.open(path, std::ios::app);
  HPCT_CHECK(sinks().file, path, ": cannot open the log file for writing");
}

void warn(const std::string& line) {
  {
    std::lock_guard lock(output_mutex());
    to_file("warning: " + line);
    clear_status();
  }
  error_line(settings().prefix + "warning: " + line);
  if (settings().on_warning) settings().on_warning(line);
}

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
