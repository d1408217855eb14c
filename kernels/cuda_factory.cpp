// The CUDA backend's factory and device choice, compiled in every build: it asks the CUDA plugin
// (kernels/cuda_plugin.hpp), which says when the build has no CUDA backend. choose_cuda_device is
// plain host logic, tested on any machine.
#include <climits>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "kernels/cpu/cpu_backend.hpp"
#include "kernels/kernels.hpp"

#include "kernels/cuda_plugin.hpp"

namespace hpct::kernels {

int local_rank_from_env() {
  for (const char* var : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"}) {
    const char* s = std::getenv(var);
    if (!s || !*s) continue;
    char* end = nullptr;
    const long v = std::strtol(s, &end, 10);
    if (*end == '\0' && v >= 0 && v <= INT_MAX) return static_cast<int>(v);
  }
  return 0;
}

int choose_cuda_device(int local_rank, int ranks_on_node, int visible, const std::vector<int>& gpu_ids,
                       bool allow_sharing) {
  HPCT_CHECK(visible > 0, "cuda: no GPU is visible to this process");
  std::vector<int> ids = gpu_ids;
  if (ids.empty())
    for (int i = 0; i < visible; ++i) ids.push_back(i);
  for (const int id : ids)
    HPCT_CHECK(id >= 0 && id < visible, "option --gpu-ids: GPU ", id, " does not exist: ", visible,
               " GPU(s) are visible (0 .. ", visible - 1, "; CUDA_VISIBLE_DEVICES renumbers them)");
  const int n = static_cast<int>(ids.size());
  HPCT_CHECK(allow_sharing || ranks_on_node <= n, "cuda: ", ranks_on_node, " ranks on this node but ", n,
             " GPU(s) to use (", gpu_ids.empty() ? "visible" : "--gpu-ids",
             "): one GPU per rank, or --allow-gpu-sharing to let ranks share");
  HPCT_CHECK(local_rank >= 0, "cuda: local rank ", local_rank, " is negative");
  return ids[static_cast<std::size_t>(local_rank % n)];
}

namespace {
// The plugin's kernels table, checked to come from this build; null with *why when there is none.
const CudaKernelsPlugin* kernels_plugin(std::string* why) {
  using Entry = const CudaKernelsPlugin* (*)();
  const auto entry = reinterpret_cast<Entry>(cuda_plugin_symbol(kCudaKernelsEntry, why));
  if (!entry) return nullptr;
  const CudaKernelsPlugin* table = entry();
  if (std::string(table->build_id) != cuda_plugin_build_id()) {
    if (why) *why = cat("the CUDA backend plugin (", cuda_plugin_status(), ") comes from another build of hpctrain");
    return nullptr;
  }
  return table;
}
}  // namespace

int cuda_device_count(std::string* why) {
  // Without a driver the plugin is not loaded at all: a CPU node never pays for the CUDA libraries.
  if (cuda_backend_built() && !cuda_driver_present(why)) return 0;
  const CudaKernelsPlugin* p = kernels_plugin(why);  // a build without CUDA: null, and *why says so
  return p ? p->device_count(why) : 0;
}

std::string cuda_system_report() {
  // Loaded even without a driver: the library versions help whoever sets up a node.
  std::string why;
  const CudaKernelsPlugin* p = kernels_plugin(&why);
  if (!p) return cat("CUDA: ", why, "\nGPUs: no GPU visible (", why, ")\n");
  return cat("CUDA backend: ", cuda_plugin_status(), "\n", p->system_report());
}

std::string cuda_device_name(int device) {
  const CudaKernelsPlugin* p = kernels_plugin(nullptr);
  return p ? p->device_name(device) : "none";
}

std::unique_ptr<Backend> make_cuda_backend(int local_rank, const std::vector<int>& gpu_ids, bool allow_gpu_sharing,
                                           bool tf32) {
  std::string why;
  const int visible = cuda_device_count(&why);
  HPCT_CHECK(visible > 0, "--device cuda: no usable GPU: ", why);
  return kernels_plugin(nullptr)->make_backend(
      choose_cuda_device(local_rank, ranks_on_node(), visible, gpu_ids, allow_gpu_sharing), tf32);
}

}  // namespace hpct::kernels
