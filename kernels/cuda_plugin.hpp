#pragma once
// The CUDA backend is a plugin, libhpctrain_cuda.so (kernels/cuda/ and src/parallel/cuda/), loaded on
// first use. Linking cuBLAS(Lt), cuDNN and NCCL into the program itself made every run pay for them,
// GPU or not: 0.5 s to load and 220 MiB resident (cuBLASLt's static data alone is 140 MiB), more than
// the CPU models train in. The plugin is built with the program and resolves the program's own
// symbols (it is linked against none of our static libraries), so the two share one copy of every
// global (trace buffers, warnings) and must come from the same build: each table carries the build id.
#include <memory>
#include <string>

namespace hpct::kernels {

class Backend;

// What the plugin's kernels half offers (kernels/cuda/cuda_plugin.cpp): the entry points of the CUDA
// backend's factory (kernels/cuda_factory.cpp), with the device already chosen.
struct CudaKernelsPlugin {
  const char* build_id;
  int (*device_count)(std::string* why);
  std::string (*system_report)();
  std::string (*device_name)(int device);
  std::unique_ptr<Backend> (*make_backend)(int device, bool tf32);
};
// The exported C name of the function returning that table.
inline constexpr const char* kCudaKernelsEntry = "hpctrain_cuda_kernels";

// Whether this build has the CUDA backend (and so a plugin to load).
bool cuda_backend_built();
// Whether the machine has a CUDA driver (libcuda.so.1 loads); else *why says so. Asked before the
// plugin is loaded to count GPUs, so that a CPU node never pays for the CUDA libraries.
bool cuda_driver_present(std::string* why);
// Loads the plugin once (later calls reuse it) and returns the address of its symbol `name`; null when
// it cannot, with *why saying why: the build has no CUDA backend, the plugin or a CUDA library it needs
// is missing, or the plugin comes from another build. The plugin is looked for at
// $HPCTRAIN_CUDA_PLUGIN, next to the program, in ../lib/hpctrain/ from it (an install), then where this
// build wrote it.
void* cuda_plugin_symbol(const char* name, std::string* why);
// The build id a plugin table must carry (generated at configure time).
const char* cuda_plugin_build_id();
// "loaded from PATH", or why it was not, for `hpctrain info --system`.
std::string cuda_plugin_status();

}  // namespace hpct::kernels
