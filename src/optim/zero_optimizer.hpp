#pragma once
// ZeRO stage 1 (Rajbhandari et al., "ZeRO: memory optimizations toward training trillion parameter
// models"): the optimizer state is sharded over the data-parallel ranks. Ddp reduce-scatters each
// gradient bucket (DdpOptions::shard), so rank r holds the average of block r of every bucket
// (Ddp::shard_grads); this class updates only those blocks, with optimizer state (AdamW's moments,
// SGD's momentum) for them alone: 1/ranks of the unsharded state. Then every rank's updated blocks of
// the compute-dtype parameters are gathered into every rank's copy (Ddp::allgather_blocks).
//
// The fp32 master weights of 16-bit models are sharded the same way: this class holds the own blocks
// and the store's whole copy is freed (ParameterStore::drop_master); gather_master() builds it again
// where it is read (checkpoints, the end of the run), release_master() frees it after a checkpoint.
//
// The same arithmetic as the unsharded step: the shards are the allreduce's sums (the shared-memory
// window sums both in rank order), the update is elementwise, the global gradient norm is the sum of
// the shards' sums of squares (the trainer allreduces it).
//
// Checkpoints: gather_state() gathers the shards (collective) and assembles the unsharded state on rank 0
// (the writer; other ranks get nothing), so a checkpoint is the same file with or without sharding and
// resumes under either setting.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "optim/optimizer.hpp"
#include "parallel/ddp.hpp"

namespace hpct::optim {

class ZeroOptimizer {
 public:
  // ddp must have been built with DdpOptions::shard.
  ZeroOptimizer(const OptimizerOptions& opt, kernels::Backend& be, params::ParameterStore& store, dist::Ddp& ddp);

  // The step on this rank's blocks (gradients from Ddp::shard_grads), then the parameters' gather.
  void step(kernels::Backend& be, double lr, const Tensor& control);
  // The store's fp32 master weights whole on every rank (16-bit models; nothing to do otherwise), and
  // freed again. Both collective.
  void gather_master(kernels::Backend& be);
  void release_master(kernels::Backend& be);

  std::string describe() const { return optimizer_->describe(); }
  // The state tensors' names, in Optimizer::state() order.
  std::vector<std::string> state_names() const;
  // State tensor i unsharded (flat_size() floats), on every rank; collective.
  std::vector<float> gather_state(kernels::Backend& be, std::size_t i) const;
  // Loads this rank's blocks of state tensor i from its unsharded values (flat_size() floats).
  void load_state(kernels::Backend& be, std::size_t i, const std::vector<float>& full);
  // Bytes of this rank's optimizer state, and what the unsharded state would take.
  std::int64_t state_bytes() const { return optim::state_bytes(*optimizer_); }
  std::int64_t unsharded_state_bytes() const;
  // Bytes of this rank's fp32 master blocks (0 without 16-bit parameters).
  std::int64_t master_bytes() const { return static_cast<std::int64_t>(master_.tensor().bytes()); }

 private:
  params::ParameterStore& store_;
  dist::Ddp& ddp_;
  std::unique_ptr<Optimizer> optimizer_;  // state for the shard's elements only
  Buffer master_;                         // 16-bit models: the fp32 master weights of the shard
};

}  // namespace hpct::optim
