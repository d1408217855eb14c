#include "core/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "core/error.hpp"

namespace hpct {

std::string temporary_path(const std::string& path) { return cat(path, ".tmp.", ::getpid()); }

void sync_file(const std::string& path, const std::string& display) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  const bool ok = fd >= 0 && ::fsync(fd) == 0;
  if (fd >= 0) ::close(fd);
  HPCT_CHECK(ok, display, ": cannot flush ", path, " to disk");
}

void write_text_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = temporary_path(path);
  {
    std::ofstream out(tmp, std::ios::trunc);
    HPCT_CHECK(out, path, ": cannot write (creating ", tmp, " failed)");
    out << text;
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      fail(path, ": writing failed");
    }
  }
  try {
    sync_file(tmp, path);
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    fail(path, ": cannot rename ", tmp, " into place");
  }
}

}  // namespace hpct
