// `hpctrain info --system`, the CUDA part: library versions (known without a GPU) and the GPUs.
#include <cstdio>
#include <string>

#include "kernels/cuda/cuda_backend.hpp"
#include "kernels/cuda/cuda_check.hpp"
#include "kernels/cuda/cuda_sdpa.hpp"
#include "kernels/cuda/cuda_system.hpp"

namespace hpct::kernels::cuda {
namespace {

// CUDA encodes versions as 1000 * major + 10 * minor.
std::string cuda_version(int v) { return v == 0 ? "none" : cat(v / 1000, ".", (v % 1000) / 10); }

}  // namespace

std::string system_report() {
  int runtime = 0, driver = 0, nccl = 0;
  HPCT_CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
  // 0 when no driver is installed (a build machine): reported, not an error.
  if (cudaDriverGetVersion(&driver) != cudaSuccess) {
    driver = 0;
    (void)cudaGetLastError();  // clear it, so that no later launch check reports it
  }
  const std::size_t cublas = cublasLtGetVersion(), cudnn = cudnnGetVersion();
  HPCT_NCCL_CHECK(ncclGetVersion(&nccl));
  std::string s = cat("CUDA runtime ", cuda_version(runtime), ", driver ", cuda_version(driver), ", cuBLASLt ",
                      cublas / 10000, ".", cublas / 100 % 100, ".", cublas % 100, ", cuDNN ", cudnn / 10000, ".",
                      cudnn / 100 % 100, ".", cudnn % 100, ", NCCL ", nccl / 10000, ".", nccl / 100 % 100, ".",
                      nccl % 100, "\n", sdpa_report(), "\n");
  std::string why;
  const int n = visible_devices(&why);
  if (n == 0) return s + "GPUs: no GPU visible (" + why + ")\n";
  s += cat("GPUs: ", n, " visible\n");
  for (int d = 0; d < n; ++d) {
    cudaDeviceProp p{};
    HPCT_CUDA_CHECK(cudaGetDeviceProperties(&p, d));
    char bus[32];
    std::snprintf(bus, sizeof bus, "%04x:%02x:%02x", p.pciDomainID, p.pciBusID, p.pciDeviceID);
    s += cat("  GPU ", d, ": ", p.name, ", ", p.totalGlobalMem >> 20, " MiB, compute capability ", p.major, ".",
             p.minor, ", ", p.multiProcessorCount, " SMs, PCI ", bus, "\n");
  }
  // Peer access: which pairs can read each other's memory directly (NVLink or PCIe P2P); the
  // performance rank orders links (lower is faster).
  for (int a = 0; a < n; ++a) {
    std::string row = cat("  peers of GPU ", a, ":");
    for (int b = 0; b < n; ++b) {
      if (a == b) continue;
      int can = 0, rank = 0;
      HPCT_CUDA_CHECK(cudaDeviceCanAccessPeer(&can, a, b));
      if (can) HPCT_CUDA_CHECK(cudaDeviceGetP2PAttribute(&rank, cudaDevP2PAttrPerformanceRank, a, b));
      row += can ? cat(" ", b, " (rank ", rank, ")") : cat(" ", b, " (no)");
    }
    if (n > 1) s += row + "\n";
  }
  return s;
}

std::string device_name(int device) {
  cudaDeviceProp p{};
  HPCT_CUDA_CHECK(cudaGetDeviceProperties(&p, device));
  return p.name;
}

}  // namespace hpct::kernels::cuda
