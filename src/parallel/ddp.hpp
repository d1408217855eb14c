#pragma once
// Data-parallel gradient reduction over a Communicator, as PyTorch's DDP Reducer: the flat gradient
// buffer is cut into buckets in reverse layer order (a small first bucket, then ~bucket_mb each),
// and each bucket's average-allreduce starts as soon as backward has finished every parameter in it,
// so communication overlaps the rest of backward. The buckets are fixed at construction, so every
// rank issues the same collectives in the same order.
#include <cstdint>
#include <vector>

#include "parallel/communicator.hpp"
#include "params/parameter_store.hpp"

namespace hpct::dist {

struct DdpOptions {
  double bucket_mb = 25.0;
  double first_bucket_mb = 1.0;  // small, so the first allreduce starts early in backward
  // Keep the gradients in memory the communicator reduces without copies, when it has such
  // (Communicator::make_reduction_buffer: a shared-memory window for MPI ranks on one node).
  bool zero_copy = true;
};

class Ddp {
 public:
  struct Bucket {
    std::int64_t begin = 0, end = 0;  // element range of the flat gradient buffer
  };

  // With opt.zero_copy, moves the store's gradients into the communicator's reduction buffer (back
  // again on destruction: both are collective). `be` copies them.
  Ddp(Communicator& comm, params::ParameterStore& store, kernels::Backend& be, const DdpOptions& opt = {});
  ~Ddp();
  Ddp(const Ddp&) = delete;
  Ddp& operator=(const Ddp&) = delete;
  bool zero_copy() const { return shared_ != nullptr; }

  // Copies rank 0's parameters to every rank, then proves they are identical (check_in_sync).
  void broadcast_parameters();
  // Throws hpct::Error naming the ranks whose parameters differ from rank 0's (bitwise hash).
  void check_in_sync(const std::string& when);

  // Starts a step. sync = false (the first K-1 micro-steps of gradient accumulation): no
  // communication, gradients just accumulate locally.
  void begin_step(bool sync);
  // The model's grad-ready hook: gradients at flat offsets >= offset are final.
  void grads_ready_from(std::int64_t offset);
  // Starts any bucket not yet started and waits for all of them; returns the seconds spent waiting
  // (communication not hidden behind backward).
  double finish_step();

  const std::vector<Bucket>& buckets() const { return buckets_; }

 private:
  Communicator& comm_;
  params::ParameterStore& store_;
  kernels::Backend& be_;
  std::unique_ptr<ReductionBuffer> shared_;  // where the gradients live, when zero-copy
  std::vector<Bucket> buckets_;  // in launch order: last layers first
  std::vector<Handle> pending_;
  std::size_t next_ = 0;         // next bucket to launch
  bool sync_ = true;
};

}  // namespace hpct::dist
