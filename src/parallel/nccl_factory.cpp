// The NCCL communicator lives in the CUDA plugin (kernels/cuda_plugin.hpp): its parallel half,
// src/parallel/cuda/nccl_plugin.cpp, exports make_nccl_communicator's body.
#include "core/error.hpp"
#include "kernels/cuda_plugin.hpp"
#include "parallel/comm_choice.hpp"
#include "parallel/nccl_plugin.hpp"

namespace hpct::dist {

bool nccl_built() { return kernels::cuda_backend_built(); }

std::unique_ptr<Communicator> make_nccl_communicator(std::unique_ptr<Communicator> host, int world_rank) {
  std::string why;
  using Entry = const NcclPlugin* (*)();
  const auto entry = reinterpret_cast<Entry>(kernels::cuda_plugin_symbol(kNcclEntry, &why));
  if (!entry) throw Error(cat("NCCL: ", why));
  const NcclPlugin* p = entry();
  HPCT_CHECK(std::string(p->build_id) == kernels::cuda_plugin_build_id(),
             "NCCL: the CUDA backend plugin comes from another build of hpctrain (", kernels::cuda_plugin_status(), ")");
  return p->make_communicator(std::move(host), world_rank);
}

}  // namespace hpct::dist
