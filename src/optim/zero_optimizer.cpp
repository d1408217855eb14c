#include "optim/zero_optimizer.hpp"

namespace hpct::optim {

ZeroOptimizer::ZeroOptimizer(const OptimizerOptions& opt, kernels::Backend& be, params::ParameterStore& store,
                             dist::Ddp& ddp)
    : store_(store), ddp_(ddp), optimizer_(make_optimizer(opt, be, store, ddp.shard_grads().numel())) {
  HPCT_CHECK(!ddp.shard_grads().empty(), "ZeroOptimizer: the Ddp does not shard its gradients");
  if (!store.has_master()) return;
  // The own blocks of the (broadcast or resumed) master weights, then the whole copy goes.
  const int p = ddp.comm().size(), r = ddp.comm().rank();
  master_ = Buffer(be.allocator(), Shape{ddp.shard_grads().numel()}, kernels::master_dtype(store.dtype()));
  for (const dist::Ddp::Bucket& b : ddp.buckets())
    be.copy(master_.tensor().flat_range(b.shard, b.block_size(p)),
            store.flat_master().flat_range(b.block_begin(r, p), b.block_size(p)));
  be.synchronize();  // the copies have read the store's copy before it is freed
  store.drop_master();
}

// Bucket b's block on rank r is [b.begin + r n, b.begin + (r + 1) n); its gradients and state sit at
// b.shard of the shard buffers. One fused update per bucket, then one in-place gather per bucket.
void ZeroOptimizer::step(kernels::Backend& be, double lr, const Tensor& control) {
  const int p = ddp_.comm().size(), r = ddp_.comm().rank();
  for (const dist::Ddp::Bucket& b : ddp_.buckets()) {
    const std::int64_t n = b.block_size(p), at = b.block_begin(r, p);
    const Tensor master = store_.has_master() ? master_.tensor().flat_range(b.shard, n) : Tensor{};
    optimizer_->step_range(be, store_.flat_params().flat_range(at, n), master, ddp_.shard_grads().flat_range(b.shard, n),
                           b.shard, lr, control);
  }
  ddp_.allgather_blocks(store_.flat_params());
}

void ZeroOptimizer::gather_master(kernels::Backend& be) {
  if (!store_.has_master()) return;
  store_.restore_master(be);
  ddp_.allgather_blocks(store_.flat_master(), master_);
}

void ZeroOptimizer::release_master(kernels::Backend& be) {
  if (!store_.has_master()) return;
  be.synchronize();  // the gather (and any reader) is done with the memory
  store_.drop_master();
}

std::vector<std::string> ZeroOptimizer::state_names() const {
  std::vector<std::string> names;
  for (const auto& [name, t] : optimizer_->state()) names.push_back(name);
  return names;
}

std::int64_t ZeroOptimizer::unsharded_state_bytes() const { return state_bytes() * ddp_.comm().size(); }

// Every rank's shard to every rank (host memory, over the data communicator), then each block to its
// place in the flat layout.
std::vector<float> ZeroOptimizer::gather_state(kernels::Backend& be, std::size_t i) const {
  const auto state = optimizer_->state();  // a list by value: keep it while its tensors are used
  const auto& [name, shard] = state.at(i);
  HPCT_CHECK(shard.dtype == DType::f32, "checkpoint: optimizer state ", name, " is not float32");
  const int p = ddp_.comm().size();
  const std::int64_t s = shard.numel();
  std::vector<float> mine = be.read<float>(shard), all(static_cast<std::size_t>(s * p));
  ddp_.comm().allgather(Tensor(mine.data(), Shape{s}, DType::f32), Tensor(all.data(), Shape{s * p}, DType::f32))->wait_host();
  if (ddp_.comm().rank() != 0) return {};  // only rank 0 writes the checkpoint
  std::vector<float> full(static_cast<std::size_t>(store_.flat_size()), 0.0f);
  for (const dist::Ddp::Bucket& b : ddp_.buckets())
    for (int r = 0; r < p; ++r) {
      const auto from = all.begin() + r * s + b.shard;
      std::copy(from, from + b.block_size(p), full.begin() + b.block_begin(r, p));
    }
  return full;
}

void ZeroOptimizer::load_state(kernels::Backend& be, std::size_t i, const std::vector<float>& full) {
  const auto [name, shard] = optimizer_->state().at(i);
  HPCT_CHECK(static_cast<std::int64_t>(full.size()) == store_.flat_size() && shard.dtype == DType::f32,
             "resume: optimizer state ", name, " (", full.size(), " values) does not fit ", store_.flat_size(),
             " parameters");
  const int p = ddp_.comm().size(), r = ddp_.comm().rank();
  for (const dist::Ddp::Bucket& b : ddp_.buckets()) {
    const std::int64_t n = b.block_size(p);
    be.copy(shard.flat_range(b.shard, n),
            Tensor(const_cast<float*>(full.data()) + b.block_begin(r, p), Shape{n}, DType::f32));
  }
  be.synchronize();  // `full` is the caller's host memory
}

}  // namespace hpct::optim
