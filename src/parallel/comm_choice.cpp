#include "parallel/comm_choice.hpp"

#include "core/error.hpp"

namespace hpct::dist {

CommBackend choose_comm_backend(const std::string& option, DeviceKind device, int world_size, bool built) {
  if (option == "mpi") return CommBackend::mpi;
  if (option == "nccl") {
    HPCT_CHECK(device == DeviceKind::cuda, "option --dist.backend nccl: needs --device cuda (the device is ",
               Device{device, 0}.str(), ")");
    HPCT_CHECK(built, "option --dist.backend nccl: this hpctrain was built without CUDA/NCCL (HPCTRAIN_CUDA)");
    return CommBackend::nccl;
  }
  HPCT_CHECK(option == "auto", "option --dist.backend: expected auto, mpi or nccl, got '", option, "'");
  return device == DeviceKind::cuda && world_size > 1 && built ? CommBackend::nccl : CommBackend::mpi;
}

}  // namespace hpct::dist
