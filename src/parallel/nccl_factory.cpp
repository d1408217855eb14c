// The only file of src/parallel that knows whether the NCCL communicator is linked in
// (HPCTRAIN_HAVE_CUDA is defined for it alone, src/CMakeLists.txt).
#include "core/error.hpp"
#include "parallel/comm_choice.hpp"
#ifdef HPCTRAIN_HAVE_CUDA
#include "parallel/cuda/nccl_communicator.hpp"
#endif

namespace hpct::dist {

#ifdef HPCTRAIN_HAVE_CUDA
bool nccl_built() { return true; }
std::unique_ptr<Communicator> make_nccl_communicator(std::unique_ptr<Communicator> host, int world_rank) {
  return std::make_unique<NcclCommunicator>(std::move(host), world_rank);
}
#else
bool nccl_built() { return false; }
std::unique_ptr<Communicator> make_nccl_communicator(std::unique_ptr<Communicator>, int) {
  throw Error("NCCL: this hpctrain was built without CUDA/NCCL (HPCTRAIN_CUDA)");
}
#endif

}  // namespace hpct::dist
