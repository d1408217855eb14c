#pragma once
// `hpctrain --version`: what a bug report or a cluster's support needs to know about this binary.
#include <string>

namespace hpct::app {

// Several lines: the version and git commit, the backends built, and the versions of the MPI,
// HDF5, Boost and OpenBLAS libraries in use (MPI, HDF5 and OpenBLAS as loaded at run time).
std::string version_text();

}  // namespace hpct::app
