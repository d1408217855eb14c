// The CUDA backend's factory and device choice, compiled in every build: with HPCTRAIN_HAVE_CUDA (set
// on this file only, by src/CMakeLists.txt, when kernels/cuda/ is built) it asks CUDA; without, it
// says the build has no CUDA backend. choose_cuda_device is plain host logic, tested on any machine.
#include <climits>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "kernels/cpu/cpu_backend.hpp"
#include "kernels/kernels.hpp"

#ifdef HPCTRAIN_HAVE_CUDA
#include "kernels/cuda/cuda_backend.hpp"
#include "kernels/cuda/cuda_system.hpp"
#endif

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

#ifdef HPCTRAIN_HAVE_CUDA

int cuda_device_count(std::string* why) { return cuda::visible_devices(why); }

std::string cuda_system_report() { return cuda::system_report(); }

std::string cuda_device_name(int device) { return cuda::device_name(device); }

std::unique_ptr<Backend> make_cuda_backend(int local_rank, const std::vector<int>& gpu_ids, bool allow_gpu_sharing,
                                           bool tf32) {
  std::string why;
  const int visible = cuda::visible_devices(&why);
  HPCT_CHECK(visible > 0, "--device cuda: no usable GPU: ", why);
  return std::make_unique<cuda::CudaBackend>(
      choose_cuda_device(local_rank, ranks_on_node(), visible, gpu_ids, allow_gpu_sharing), tf32);
}

#else

namespace {
constexpr const char* kNoCuda = "this hpctrain was built without the CUDA backend (HPCTRAIN_CUDA=OFF, or no nvcc)";
}

int cuda_device_count(std::string* why) {
  if (why) *why = kNoCuda;
  return 0;
}

std::string cuda_system_report() { return cat("CUDA: ", kNoCuda, "\nGPUs: no GPU visible (", kNoCuda, ")\n"); }

std::string cuda_device_name(int /*device*/) { return "none"; }

std::unique_ptr<Backend> make_cuda_backend(int /*local_rank*/, const std::vector<int>& /*gpu_ids*/,
                                           bool /*allow_gpu_sharing*/, bool /*tf32*/) {
  fail("--device cuda: ", kNoCuda);
}

#endif

}  // namespace hpct::kernels
