#include "parallel/init_watchdog.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>

#include "core/error.hpp"

namespace hpct::dist {
namespace {

// The launcher's rank: MPI cannot say yet.
std::string launcher_rank() {
  for (const char* var : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"})
    if (const char* s = std::getenv(var); s && *s) return s;
  return "?";
}

}  // namespace

double init_timeout_s() {
  const char* s = std::getenv("HPCTRAIN_INIT_TIMEOUT_S");
  if (!s || !*s) return 600.0;
  char* end = nullptr;
  const double v = std::strtod(s, &end);
  HPCT_CHECK(*end == '\0' && v > 0 && v <= 1e7, "HPCTRAIN_INIT_TIMEOUT_S: expected seconds in (0, 1e7], got '", s, "'");
  return v;
}

InitWatchdog::InitWatchdog() {
  const double seconds = init_timeout_s();
  thread_ = std::thread([this, seconds] {
    std::unique_lock lock(mutex_);
    if (cv_.wait_for(lock, std::chrono::duration<double>(seconds), [this] { return done_; })) return;
    // One write, so that ranks' lines do not interleave; then out, without running destructors that
    // might wait on MPI.
    const std::string msg = cat("hpctrain: rank ", launcher_rank(), ": the MPI start-up did not complete within ",
                                seconds, " s: a peer never joined (stopped, or its node hung); "
                                "HPCTRAIN_INIT_TIMEOUT_S sets this bound\n");
    (void)!::write(STDERR_FILENO, msg.data(), msg.size());
    std::_Exit(1);
  });
}

InitWatchdog::~InitWatchdog() {
  {
    const std::lock_guard lock(mutex_);
    done_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

}  // namespace hpct::dist
