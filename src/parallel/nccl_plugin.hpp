#pragma once
// The parallel half of the CUDA plugin's entry points (kernels/cuda_plugin.hpp explains the plugin):
// the NCCL communicator's factory, src/parallel/cuda/nccl_plugin.cpp.
#include <memory>

#include "parallel/communicator.hpp"

namespace hpct::dist {

struct NcclPlugin {
  const char* build_id;
  std::unique_ptr<Communicator> (*make_communicator)(std::unique_ptr<Communicator> host, int world_rank);
};
// The exported C name of the function returning that table.
inline constexpr const char* kNcclEntry = "hpctrain_cuda_parallel";

}  // namespace hpct::dist
