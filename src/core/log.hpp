#pragma once
// Minimal logging: info lines go to stdout from the process that is allowed to speak (world rank 0
// once distributed training starts), warnings and errors to stderr from every process.
#include <functional>
#include <iostream>
#include <string>

namespace hpct::log {

struct Settings {
  bool quiet = false;    // suppress info lines (non-root ranks, --quiet)
  std::string prefix;    // e.g. "rank 3: " for warnings
  // Called with each warning's text (events.jsonl records warnings); empty = none.
  std::function<void(const std::string&)> on_warning;
};
Settings& settings();

void info(const std::string& line);
void warn(const std::string& line);
// A line printed even with quiet (the final line of a run).
void always(const std::string& line);
// A status line that the next one replaces (progress on a terminal): "\r" + line, no newline; the
// next info/always line clears it first. Never written to the log file.
void status(const std::string& line);
// Also append every info, always and warning line of this process to this file (RUN/train.log),
// flushed per line, whatever quiet says; empty path: stop. Throws naming the file it cannot open.
void set_file(const std::string& path);
// The line and its newline to stderr in one write(2): lines of several ranks sharing a terminal or a
// SLURM log never run into each other (a write of up to PIPE_BUF bytes to a pipe is atomic). For
// errors that end the process.
void error_line(const std::string& line);

}  // namespace hpct::log
