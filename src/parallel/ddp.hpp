#pragma once
// Data-parallel gradient reduction over a Communicator, as PyTorch's DDP Reducer: the flat gradient
// buffer is cut into buckets in reverse layer order (a small first bucket, then ~bucket_mb each),
// and each bucket's average-allreduce starts as soon as backward has finished every parameter in it,
// so communication overlaps the rest of backward. The buckets are fixed at construction, so every
// rank issues the same collectives in the same order.
//
// Stream order: backward's kernels are enqueued, not finished, when a layer returns. So each bucket's
// collective takes an Event recorded on the compute stream at that moment and starts once the
// gradients in it are computed; at the end of the step the compute stream waits for every bucket and
// for the step's device scalars (the loss count), which are reduced after the last bucket. The host
// waits for none of it.
#include <cstdint>
#include <vector>

#include "core/buffer.hpp"
#include "parallel/communicator.hpp"
#include "params/parameter_store.hpp"

namespace hpct::dist {

struct DdpOptions {
  double bucket_mb = 25.0;
  double first_bucket_mb = 1.0;  // small, so the first allreduce starts early in backward
  // Keep the gradients in memory the communicator reduces without copies, when it has such
  // (Communicator::make_reduction_buffer: a shared-memory window for MPI ranks on one node).
  bool zero_copy = true;
  // ZeRO-1 (optim/zero_optimizer.hpp): each bucket is reduce-scattered instead of allreduced, and this
  // rank keeps only its block of every bucket (the average, in shard_grads()).
  bool shard = false;
};

class Ddp {
 public:
  struct Bucket {
    std::int64_t begin = 0, end = 0;  // element range of the flat gradient buffer
    std::int64_t shard = 0;           // sharded: where this rank's block of it sits in shard_grads()
    // Sharded: this rank's block, [begin + rank n, begin + (rank + 1) n) with n = (end - begin) / ranks.
    std::int64_t block_size(int ranks) const { return (end - begin) / ranks; }
    std::int64_t block_begin(int rank, int ranks) const { return begin + rank * block_size(ranks); }
  };

  // With opt.zero_copy, moves the store's gradients into the communicator's reduction buffer (back
  // again on destruction: both are collective). `be` copies them.
  Ddp(Communicator& comm, params::ParameterStore& store, kernels::Backend& be, const DdpOptions& opt = {});
  ~Ddp();
  Ddp(const Ddp&) = delete;
  Ddp& operator=(const Ddp&) = delete;
  bool zero_copy() const { return shared_ != nullptr; }

  // Copies rank 0's weights (the fp32 master copy of a 16-bit model) to every rank, then proves they
  // are identical (check_in_sync).
  void broadcast_parameters();
  // Throws hpct::Error naming the ranks whose weights differ from rank 0's (a digest of their bits,
  // Backend::checksum, computed on the device; reading its 8 bytes is the one host wait, at start-up
  // and every --ddp.check-every steps).
  void check_in_sync(const std::string& when);

  // Starts a step. sync = false (the first K-1 micro-steps of gradient accumulation): no
  // communication, gradients just accumulate locally.
  void begin_step(bool sync);
  // The model's grad-ready hook: gradients at flat offsets >= offset are final.
  void grads_ready_from(std::int64_t offset);
  // Starts any bucket not yet started, then the sum of `scalars` (f64 device values of this step,
  // e.g. the loss count; may be empty) over the ranks, and makes the backend's current stream wait
  // for all of them. Returns the host seconds it took (with a synchronous backend, the communication
  // not hidden behind backward).
  double finish_step(const Tensor& scalars = {});

  const std::vector<Bucket>& buckets() const { return buckets_; }
  Communicator& comm() const { return comm_; }

  // Sharded (DdpOptions::shard): this rank's blocks of the step's averaged gradients, bucket after
  // bucket (Bucket::shard), in the store's dtype: 1/ranks of the flat buffer.
  const Tensor& shard_grads() const { return shard_grads_.tensor(); }
  // In stream order: f64 device scalars summed over the ranks (the shards' sums of squares).
  void sum_over_ranks(const Tensor& scalars);
  // In stream order: every rank's updated block of each bucket of `flat` (the parameters, or the fp32
  // master weights; flat_size() elements) gathered into every rank's copy. The own blocks come from
  // `flat` itself (in place), or from `shard` (laid out as shard_grads()) when given.
  void allgather_blocks(const Tensor& flat, const Tensor& shard = {});

 private:
  Communicator& comm_;
  params::ParameterStore& store_;
  kernels::Backend& be_;
  std::unique_ptr<ReductionBuffer> shared_;  // where the gradients live, when zero-copy
  bool shard_ = false;
  Buffer shard_grads_;  // sharded: this rank's blocks of the reduced gradients
  std::vector<Bucket> buckets_;  // in launch order: last layers first
  std::vector<Handle> pending_;
  std::size_t next_ = 0;         // next bucket to launch
  bool sync_ = true;
  // Events handed to collectives; one is reused only once the collective that waited on it is done
  // (the host may run steps ahead of the device).
  struct Tracked {
    ReadyEvent event;
    Handle user;  // the collective waiting on it
  };
  std::vector<Tracked> events_;
  // A free event recorded on the current stream now; the caller sets its user.
  Tracked& ready_event();
  // Makes the backend's stream wait for every pending collective; returns the host seconds it took.
  double wait_pending();
};

}  // namespace hpct::dist
