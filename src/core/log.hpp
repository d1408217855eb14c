#pragma once
// Minimal logging: info lines go to stdout from the process that is allowed to speak (world rank 0
// once distributed training starts), warnings and errors to stderr from every process.
#include <iostream>
#include <string>

namespace hpct::log {

struct Settings {
  bool quiet = false;    // suppress info lines (non-root ranks, --quiet)
  std::string prefix;    // e.g. "rank 3: " for warnings
};
Settings& settings();

void info(const std::string& line);
void warn(const std::string& line);

}  // namespace hpct::log
