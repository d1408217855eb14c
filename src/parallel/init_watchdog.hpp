#pragma once
// A bound on the MPI start-up. A peer that never reaches MPI_Init (stopped, or its node hung) holds
// every other rank inside it forever, and no --dist.timeout-s applies yet: the options are read after
// MPI is up, so that their errors name the rank. While an InitWatchdog lives, a thread waits up to
// HPCTRAIN_INIT_TIMEOUT_S seconds (default 600, the default of --dist.timeout-s); past that it writes
// which rank and why, and ends the process with status 1, which makes the launcher end the job.
#include <condition_variable>
#include <mutex>
#include <thread>

namespace hpct::dist {

class InitWatchdog {
 public:
  InitWatchdog();
  ~InitWatchdog();  // disarms it: the start-up completed
  InitWatchdog(const InitWatchdog&) = delete;
  InitWatchdog& operator=(const InitWatchdog&) = delete;

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

// HPCTRAIN_INIT_TIMEOUT_S, or 600 when unset; throws naming the variable when it is not a positive number.
double init_timeout_s();

}  // namespace hpct::dist
