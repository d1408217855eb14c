// hpctrain info --system: what a cluster's support or a bug report needs about the machine: this
// binary (version, CPU, BLAS kernel: the --version text), CUDA and its libraries, the GPUs, and under
// an MPI launcher which rank runs on which node and GPU.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <iostream>
#include <string>

#include "app/commands.hpp"
#include "app/version.hpp"
#include "kernels/kernels.hpp"
#include "parallel/world.hpp"

namespace hpct::app {
namespace {

constexpr std::size_t kLine = 128;  // bytes of one rank's line in the gather

// This rank's line: node, local rank and the GPU it would train on (--gpu-ids unset, sharing allowed).
std::string rank_line(const dist::Topology& t) {
  char host[64] = {};
  gethostname(host, sizeof host - 1);
  std::string why;
  const int gpus = kernels::cuda_device_count(&why);
  std::string gpu = "no GPU";
  if (gpus > 0) {
    const int d = kernels::choose_cuda_device(t.local_rank, t.local_size, gpus, {}, true);
    gpu = cat("GPU ", d, " (", kernels::cuda_device_name(d), ")");
  }
  return cat("node ", host, ", local rank ", t.local_rank, ", ", gpu);
}

}  // namespace

int run_info_system() {
  dist::World& world = dist::World::init(nullptr, nullptr);
  const dist::Topology& t = world.topology();
  // Every rank's line, gathered to all as fixed-size records (host memory, the world communicator).
  std::array<std::int64_t, kLine / 8> mine{};
  const std::string line = rank_line(t);
  std::memcpy(mine.data(), line.data(), std::min(line.size(), kLine - 1));
  std::vector<std::int64_t> all(mine.size() * static_cast<std::size_t>(t.size));
  world.comm()
      .allgather(Tensor(mine.data(), Shape{static_cast<std::int64_t>(mine.size())}, DType::i64),
                 Tensor(all.data(), Shape{static_cast<std::int64_t>(all.size())}, DType::i64))
      ->wait_host();
  if (t.rank != 0) return 0;
  std::cout << version_text() << kernels::cuda_system_report() << "ranks: " << t.size << " on " << t.nodes
            << " node(s)\n";
  for (int r = 0; r < t.size; ++r) {
    const char* p = reinterpret_cast<const char*>(all.data() + static_cast<std::size_t>(r) * mine.size());
    std::cout << "  rank " << r << ": " << std::string(p, strnlen(p, kLine)) << "\n";
  }
  return 0;
}

}  // namespace hpct::app
