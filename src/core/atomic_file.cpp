#include "core/atomic_file.hpp"

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "core/error.hpp"

namespace hpct {

std::string temporary_path(const std::string& path) { return cat(path, ".tmp.", ::getpid()); }

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
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    fail(path, ": cannot rename ", tmp, " into place");
  }
}

}  // namespace hpct
