#include "app/process_env.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <string>
#include <thread>

#include "kernels/cpu/blas_kernel.hpp"

namespace hpct::app {
namespace {

bool any_set(std::initializer_list<const char*> vars) {
  for (const char* v : vars)
    if (std::getenv(v)) return true;
  return false;
}

// Whether other work keeps this machine's cores oversubscribed: the 1-minute load average (runnable
// tasks, /proc/loadavg) is at least twice the number of hardware threads. Twice, because a run just
// before this one (a benchmark loop, a script) leaves up to one task per core in the average.
// False when it cannot be read.
bool machine_busy() {
  std::ifstream f("/proc/loadavg");
  double load = 0.0;
  if (!(f >> load)) return false;
  return load >= 2.0 * static_cast<double>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace

void prepare_process_environment(char** argv) {
  // HPCTRAIN_ENV_PREPARED marks the re-executed process, so it never loops.
  if (any_set({"HPCTRAIN_KEEP_ENVIRONMENT", "HPCTRAIN_KEEP_WAIT_POLICY", "HPCTRAIN_ENV_PREPARED"})) return;
  bool changed = false;
  if (!any_set({"OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_PROC_BIND", "OMP_PLACES"}))
    changed |= (machine_busy() ? setenv("OMP_WAIT_POLICY", "PASSIVE", 1) : setenv("GOMP_SPINCOUNT", "20000", 1)) == 0;
  if (const std::string core = kernels::better_blas_coretype(); !core.empty())
    changed |= setenv("OPENBLAS_CORETYPE", core.c_str(), 1) == 0;
  if (!changed || setenv("HPCTRAIN_ENV_PREPARED", "1", 1) != 0) return;
  execv("/proc/self/exe", argv);  // returns only on failure: then carry on as we are
}

}  // namespace hpct::app
