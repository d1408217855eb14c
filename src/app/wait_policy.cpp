#include "app/wait_policy.hpp"

#include <unistd.h>

#include <cstdlib>
#include <initializer_list>

namespace hpct::app {

void ensure_short_openmp_spin(char** argv) {
  for (const char* var : {"OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "HPCTRAIN_KEEP_WAIT_POLICY"})
    if (std::getenv(var)) return;
  if (setenv("GOMP_SPINCOUNT", "20000", 1) != 0) return;
  execv("/proc/self/exe", argv);  // returns only on failure: then carry on with the default
}

}  // namespace hpct::app
