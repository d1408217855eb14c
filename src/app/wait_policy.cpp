#include "app/wait_policy.hpp"

#include <unistd.h>

#include <cstdlib>

namespace hpct::app {

void ensure_passive_wait_policy(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("HPCTRAIN_KEEP_WAIT_POLICY")) return;
  if (setenv("OMP_WAIT_POLICY", "passive", 1) != 0) return;
  execv("/proc/self/exe", argv);  // returns only on failure: then carry on with the default policy
}

}  // namespace hpct::app
