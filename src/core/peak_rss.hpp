#pragma once
// The peak resident set size of this process so far (getrusage's ru_maxrss: KiB on Linux), reported
// at the end of a run beside its throughput so a model's memory can be compared with PyTorch's.
#include <sys/resource.h>

namespace hpct {

// Peak RSS in MiB, or 0 when getrusage fails.
inline double peak_rss_mib() {
  rusage u{};
  if (getrusage(RUSAGE_SELF, &u) != 0) return 0.0;
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

}  // namespace hpct
