#include "core/error.hpp"

#include <mutex>

namespace hpct {
namespace {
std::mutex latest_mutex;
std::string latest;  // guarded by latest_mutex: Errors are thrown on worker threads too
}  // namespace

Error::Error(const std::string& what) : std::runtime_error(what) {
  std::lock_guard lock(latest_mutex);
  latest = what;
}

std::string latest_error() {
  std::lock_guard lock(latest_mutex);
  return latest;
}

}  // namespace hpct
