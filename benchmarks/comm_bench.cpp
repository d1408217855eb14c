// Allreduce bandwidth per message size, in the style of nccl-tests' all_reduce_perf, for each path
// hpctrain's gradients can take: shm (the shared-memory window, ranks of one node), mpi (flat
// MPI_Allreduce) and hier (node-aware: shared memory inside each node, MPI among the nodes' leaders);
// with the CUDA build, on one GPU per rank, nccl (NCCL on the backend's pool memory) and nccl-reg (on
// the NCCL-registered gradient buffer, what DDP reduces with --ddp.zero-copy).
//   mpirun -np N build/benchmarks/comm_bench [shm|mpi|hier|nccl|nccl-reg ...] [--max-mb M]
// Prints per size: time per allreduce (median of 5 timed batches), algbw = bytes / time and
// busbw = algbw * 2 (n - 1) / n, the bandwidth each rank's link must carry (comparable across n).
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/buffer.hpp"
#include "kernels/kernels.hpp"
#include "parallel/comm_choice.hpp"
#include "parallel/mpi_communicator.hpp"

using namespace hpct;
using namespace hpct::dist;

namespace {

double time_allreduce(Communicator& comm, const Tensor& t, int iters) {
  comm.barrier()->wait_host();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) comm.allreduce(t, ReduceOp::sum)->wait_host();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / iters;
  MPI_Allreduce(MPI_IN_PLACE, &s, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);  // the slowest rank's time
  return s;
}

// Why NCCL cannot run here ("" when every rank has a GPU in a build with NCCL); the ranks agree.
std::string nccl_unavailable() {
  std::string why;
  int missing = !nccl_built() ? 1 : kernels::cuda_device_count(&why) == 0 ? 1 : 0;
  if (!nccl_built()) why = "this build has no NCCL (HPCTRAIN_CUDA)";
  MPI_Allreduce(MPI_IN_PLACE, &missing, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  return missing == 0 ? "" : why.empty() ? std::to_string(missing) + " rank(s) without a GPU" : why;
}

void run_path(const std::string& path, std::int64_t max_bytes, int rank, int size) {
  const bool nccl = path == "nccl" || path == "nccl-reg";
  if (nccl) {
    if (const std::string why = nccl_unavailable(); !why.empty()) {
      if (rank == 0) std::printf("# %s: not available here (%s)\n", path.c_str(), why.c_str());
      return;
    }
  }
  MPI_Comm dup = MPI_COMM_NULL;
  MPI_Comm_dup(MPI_COMM_WORLD, &dup);
  auto mpi = std::make_unique<MpiCommunicator>(dup, rank);
  mpi->set_timeout(std::chrono::milliseconds(60000));
  mpi->set_hierarchy(path == "hier" ? Hierarchy::on : Hierarchy::off);
  // Declared in this order so they go in reverse: buffers before the communicator and the backend.
  std::unique_ptr<kernels::Backend> gpu;
  std::unique_ptr<Communicator> comm;
  if (nccl) {
    gpu = kernels::make_cuda_backend(kernels::local_rank_from_env());  // selects the rank's GPU first
    comm = make_nccl_communicator(std::move(mpi), rank);
  } else {
    comm = std::move(mpi);
  }
  const std::int64_t n_max = max_bytes / 4;
  std::vector<float> plain;
  Buffer device;
  std::unique_ptr<ReductionBuffer> shared;
  Tensor all;
  if (path == "mpi") {
    plain.assign(static_cast<std::size_t>(n_max), 1.0f);
    all = Tensor(plain.data(), Shape{n_max}, DType::f32);
  } else if (path == "nccl") {
    device = Buffer(gpu->allocator(), Shape{n_max}, DType::f32);
    all = device;
  } else {
    shared = comm->make_reduction_buffer(n_max, DType::f32, true);
    if (!shared) {
      if (rank == 0) std::printf("# %s: not available here (ranks on several nodes, or one rank)\n", path.c_str());
      return;
    }
    all = shared->tensor();
  }
  if (gpu) {
    gpu->fill(all, 1.0);
    gpu->synchronize();
  } else if (path != "mpi") {
    std::fill_n(static_cast<float*>(all.data), n_max, 1.0f);
  }
  if (rank == 0)
    std::printf("# path %s, %d ranks\n# %12s %12s %10s %10s %10s\n", path.c_str(), size, "size(B)", "count",
                "time(us)", "algbw(GB/s)", "busbw(GB/s)");
  for (std::int64_t bytes = 4096; bytes <= max_bytes; bytes *= 4) {
    const Tensor t = all.flat_range(0, bytes / 4);
    const int iters = static_cast<int>(std::clamp<std::int64_t>((64 << 20) / bytes, 2, 200));
    time_allreduce(*comm, t, std::max(1, iters / 4));  // warm-up
    std::vector<double> runs;
    for (int k = 0; k < 5; ++k) runs.push_back(time_allreduce(*comm, t, iters));
    std::sort(runs.begin(), runs.end());
    const double s = runs[2], algbw = static_cast<double>(bytes) / s / 1e9;
    if (rank == 0)
      std::printf("  %12lld %12lld %10.1f %10.3f %10.3f\n", static_cast<long long>(bytes),
                  static_cast<long long>(bytes / 4), s * 1e6, algbw, algbw * 2.0 * (size - 1) / size);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  std::vector<std::string> paths;
  std::int64_t max_bytes = 16 << 20;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--max-mb") == 0 && i + 1 < argc)
      max_bytes = static_cast<std::int64_t>(std::atof(argv[++i]) * 1048576.0);
    else
      paths.emplace_back(argv[i]);
  }
  if (paths.empty()) paths = {"shm", "mpi", "hier"};
  try {
    for (const std::string& p : paths) run_path(p, max_bytes, rank, size);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "comm_bench: rank %d: %s\n", rank, e.what());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Finalize();
  return 0;
}
