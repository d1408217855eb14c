// The parallel half of libhpctrain_cuda.so: the table src/parallel/nccl_factory.cpp asks for.
// HPCTRAIN_CUDA_PLUGIN_BUILD_ID is set on this file by src/CMakeLists.txt.
#include "parallel/cuda/nccl_communicator.hpp"
#include "parallel/nccl_plugin.hpp"

namespace {

std::unique_ptr<hpct::dist::Communicator> make_communicator(std::unique_ptr<hpct::dist::Communicator> host,
                                                            int world_rank) {
  return std::make_unique<hpct::dist::NcclCommunicator>(std::move(host), world_rank);
}

const hpct::dist::NcclPlugin kTable{HPCTRAIN_CUDA_PLUGIN_BUILD_ID, make_communicator};

}  // namespace

extern "C" __attribute__((visibility("default"))) const hpct::dist::NcclPlugin* hpctrain_cuda_parallel() {
  return &kTable;
}
