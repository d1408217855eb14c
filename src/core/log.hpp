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
// The line and its newline to stderr in one write(2): lines of several ranks sharing a terminal or a
// SLURM log never run into each other (a write of up to PIPE_BUF bytes to a pipe is atomic). For
// errors that end the process.
void error_line(const std::string& line);

}  // namespace hpct::log
