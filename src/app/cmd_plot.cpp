// hpctrain plot RUN_DIR... [--out DIR]: pictures of runs (loss, metrics, throughput, phases), drawn by
// scripts/hpctrain_plot.py with matplotlib. This command finds the script beside the binary (the build
// tree's scripts/, or an installed prefix's share/hpctrain/) and runs it with the arguments.
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "app/commands.hpp"
#include "core/error.hpp"

namespace hpct::app {
namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

// HPCTRAIN_PLOT_SCRIPT, else the script relative to this executable.
std::string find_script() {
  if (const char* s = std::getenv("HPCTRAIN_PLOT_SCRIPT"); s && *s) return s;
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  std::vector<std::filesystem::path> tried;
  if (!ec)
    for (const char* rel : {"../scripts/hpctrain_plot.py", "../share/hpctrain/hpctrain_plot.py"}) {
      tried.push_back((exe.parent_path() / rel).lexically_normal());
      if (std::filesystem::exists(tried.back(), ec)) return tried.back().string();
    }
  std::string where;
  for (const auto& t : tried) where += (where.empty() ? "" : ", ") + t.string();
  fail("cannot find hpctrain_plot.py (looked at ", where.empty() ? "nothing: /proc/self/exe unreadable" : where,
       "; set HPCTRAIN_PLOT_SCRIPT)");
}

}  // namespace

int run_plot(const Args& args) {
  const std::string python = env_or("HPCTRAIN_PYTHON", "/usr/bin/python3"), script = find_script();
  std::vector<std::string> words = {python, script};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  execv(python.c_str(), argv.data());
  fail("cannot run ", python, " (set HPCTRAIN_PYTHON to a Python 3 with matplotlib): ", std::strerror(errno));
}

}  // namespace hpct::app
