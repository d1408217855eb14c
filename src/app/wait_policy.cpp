#include "app/wait_policy.hpp"

#include <unistd.h>

#include <cstdlib>
#include <initializer_list>

namespace hpct::app {

void ensure_short_openmp_spin(char** argv) {
  // With OMP_PROC_BIND or OMP_PLACES, libgomp has pinned this thread to one core before main; the
  // re-executed process would inherit that mask and see one core (measured under SLURM: every thread
  // on one core). Binding users keep their own wait policy.
  for (const char* var : {"OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "HPCTRAIN_KEEP_WAIT_POLICY", "OMP_PROC_BIND", "OMP_PLACES"})
    if (std::getenv(var)) return;
  if (setenv("GOMP_SPINCOUNT", "20000", 1) != 0) return;
  execv("/proc/self/exe", argv);  // returns only on failure: then carry on with the default
}

}  // namespace hpct::app
