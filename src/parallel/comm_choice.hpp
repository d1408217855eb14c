#pragma once
// Which communicator carries the data-parallel collectives (--dist.backend auto|mpi|nccl): NCCL when
// the device is CUDA and there is more than one rank (auto), MPI otherwise. Host-side agreement
// (evaluation sums, signals) always goes over MPI. make_nccl_communicator is the NCCL communicator
// when this build has NCCL (src/parallel/cuda/), else it throws.
#include <memory>
#include <string>

#include "core/device.hpp"
#include "parallel/communicator.hpp"

namespace hpct::dist {

enum class CommBackend { mpi, nccl };

// Throws naming the option and value: an unknown name, nccl without a cuda device or in a build
// without NCCL.
CommBackend choose_comm_backend(const std::string& option, DeviceKind device, int world_size, bool nccl_built);
bool nccl_built();
// Collective over host: NCCL over host's ranks, bootstrapped over host (which it keeps for
// host-memory buffers and splits), on the current CUDA device.
std::unique_ptr<Communicator> make_nccl_communicator(std::unique_ptr<Communicator> host, int world_rank);

}  // namespace hpct::dist
