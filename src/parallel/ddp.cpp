#include "parallel/ddp.hpp"

#include <cstring>
#include <exception>

#include "core/buffer.hpp"
#include "core/error.hpp"
#include "core/timer.hpp"

namespace hpct::dist {

Ddp::Ddp(Communicator& comm, params::ParameterStore& store, kernels::Backend& be, const DdpOptions& opt)
    : comm_(comm), store_(store), be_(be) {
  HPCT_CHECK(opt.bucket_mb > 0 && opt.first_bucket_mb > 0, "option ddp.bucket-mb: must be positive, got ",
             opt.bucket_mb);
  // Walk the parameters from the last to the first; close a bucket once it reaches its size. A
  // bucket always ends on a parameter boundary, so "every parameter in it is final" is one offset test.
  const auto& entries = store.entries();
  const double bytes_per = static_cast<double>(size_of(store.dtype()));
  std::int64_t end = store.flat_size();
  double cap = opt.first_bucket_mb * 1048576.0;
  for (std::size_t i = entries.size(); i-- > 0;) {
    const std::int64_t begin = i == 0 ? 0 : entries[i].offset;
    if (static_cast<double>(end - begin) * bytes_per >= cap || i == 0) {
      buckets_.push_back({begin, end});
      end = begin;
      cap = opt.bucket_mb * 1048576.0;
    }
  }
  // Sharded: each bucket splits into equal blocks, one per rank. Buckets end on parameters, which start
  // on 16-element boundaries, so any rank count that divides 16 fits every model.
  shard_ = opt.shard && comm.size() > 1;
  if (shard_) {
    std::int64_t at = 0;
    for (Bucket& b : buckets_) {
      HPCT_CHECK((b.end - b.begin) % comm.size() == 0, "option zero: ZeRO-1 splits every gradient bucket into ",
                 comm.size(), " equal blocks, one per rank, and a bucket of ", b.end - b.begin,
                 " elements does not divide (use 2, 4, 8 or 16 ranks per model)");
      b.shard = at;
      at += b.block_size(comm.size());
    }
    shard_grads_ = Buffer(be.allocator(), Shape{at}, store.dtype());
    be.fill(shard_grads_, 0.0);
  }
  // The buffer must be memory the backend's kernels address: a shared-memory window (MPI) is host
  // memory, for the CPU backends (the view then carries the backend's device); NCCL's registered buffer
  // is device memory, for the CUDA backend. Both kinds are the same on every rank (one backend kind, one
  // communicator kind), so every rank computes the same `fits`, and a buffer of the wrong kind (the CUDA
  // backend over MPI) is never made. Still always asked, with wanted = false then: the call is
  // collective, and through it ranks that disagree on zero_copy still agree on the outcome.
  const bool fits = be.device().is_host_memory() != comm_.reduction_buffer_on_device();
  shared_ = comm_.make_reduction_buffer(store.flat_size(), store.dtype(), opt.zero_copy && fits);
  if (shared_) {
    Tensor window = shared_->tensor();
    window.device = be.device();
    store_.place_grads(be_, window);
  }
}

// The gradients go back into the store's own memory, unless this rank is failing (an exception
// unwinds, or reductions are still in flight that peers may yet write into the window): then they
// stay where they are, and the window is left to the abort that follows (see ~SharedBuffer).
Ddp::~Ddp() {
  if (shared_ && std::uncaught_exceptions() == 0 && pending_.empty()) {
    store_.place_grads(be_, Tensor{});
    be_.synchronize();  // the copy out of the window runs before the window is freed
  }
}

void Ddp::broadcast_parameters() {
  Tracked& t = ready_event();
  t.user = comm_.broadcast(store_.flat_weights(), 0, t.event);
  t.user->wait(be_.stream());
  store_.weights_changed(be_);
  check_in_sync("after the initial broadcast");
}

Ddp::Tracked& Ddp::ready_event() {
  Tracked* t = nullptr;
  for (Tracked& e : events_)
    if (!e.user || e.user->done()) t = &e;
  if (!t) t = &events_.emplace_back(Tracked{be_.create_event(), nullptr});
  t->event->record(be_.stream());
  return *t;
}

void Ddp::check_in_sync(const std::string& when) {
  // A 64-bit digest of the weights' bits, computed on the device: equal weights, equal digest.
  Buffer digest(be_.allocator(), Shape{1}, DType::i64);
  // Sharded, the fp32 master copy is whole only after a gather; the compute copy always is.
  be_.checksum(shard_ ? store_.flat_params() : store_.flat_weights(), digest);
  std::int64_t mine = be_.read<std::int64_t>(digest)[0];
  std::vector<std::int64_t> all(static_cast<std::size_t>(comm_.size()));
  comm_.allgather(Tensor(&mine, Shape{1}, DType::i64), Tensor(all.data(), Shape{comm_.size()}, DType::i64))->wait_host();
  std::string differ;
  for (int r = 1; r < comm_.size(); ++r)
    if (all[r] != all[0]) differ += cat(differ.empty() ? "" : ", ", r);
  HPCT_CHECK(differ.empty(), "ranks ", differ, " hold different weights from rank 0 ", when,
             " (the model has diverged across ranks)");
}

void Ddp::begin_step(bool sync) {
  HPCT_CHECK(pending_.empty() && next_ == 0, "Ddp::begin_step while a step is in flight");
  sync_ = sync;
}

void Ddp::grads_ready_from(std::int64_t offset) {
  if (!sync_) return;
  while (next_ < buckets_.size() && buckets_[next_].begin >= offset) {
    const Bucket& b = buckets_[next_++];
    Tracked& t = ready_event();
    const Tensor grads = store_.flat_grads().flat_range(b.begin, b.end - b.begin);
    if (shard_)
      t.user = comm_.reduce_scatter(grads, shard_grads_.tensor().flat_range(b.shard, b.block_size(comm_.size())),
                                    ReduceOp::average, t.event);
    else
      t.user = comm_.allreduce(grads, ReduceOp::average, t.event);
    pending_.push_back(t.user);
  }
}

double Ddp::finish_step(const Tensor& scalars) {
  if (!sync_) return 0.0;
  grads_ready_from(0);  // whatever backward did not report (e.g. no hook): launch now, in order
  if (!scalars.empty()) {
    Tracked& t = ready_event();
    t.user = comm_.allreduce(scalars, ReduceOp::sum, t.event);
    pending_.push_back(t.user);
  }
  next_ = 0;
  return wait_pending();
}

double Ddp::wait_pending() {
  Stopwatch wait;
  for (const Handle& h : pending_) h->wait(be_.stream());
  pending_.clear();
  return wait.seconds();
}

void Ddp::sum_over_ranks(const Tensor& scalars) {
  Tracked& t = ready_event();
  t.user = comm_.allreduce(scalars, ReduceOp::sum, t.event);
  pending_.push_back(t.user);
  wait_pending();
}

// In place per bucket. With the gradients in a shared window, this rank's block goes first into the
// window at the bucket's start (the same offset on every rank; the step's gradients there are consumed,
// and zeroed before the next backward), so that the peers copy it straight from there.
// Not so with NCCL's registered buffer (device memory): ncclAllGather reads any device memory and
// gathers in place (send = this rank's block of recv), and NCCL uses a registration only when both
// send and recv are registered, which recv (the parameters) is not; a copy into the registered
// gradients would cost a device copy per bucket for nothing. (The reduce-scatter in grads_ready_from
// already reads the bucket straight from the flat gradients, registered or not, into the shard.)
void Ddp::allgather_blocks(const Tensor& flat, const Tensor& shard) {
  HPCT_CHECK(shard_, "Ddp::allgather_blocks without sharding");
  const int p = comm_.size(), r = comm_.rank();
  const bool via_window = shared_ && !comm_.reduction_buffer_on_device() && flat.dtype == store_.dtype();
  for (const Bucket& b : buckets_) {
    const Tensor all = flat.flat_range(b.begin, b.end - b.begin);
    Tensor mine = shard.empty() ? flat.flat_range(b.block_begin(r, p), b.block_size(p))
                                : shard.flat_range(b.shard, b.block_size(p));
    if (via_window) {
      const Tensor slot = store_.flat_grads().flat_range(b.begin, b.block_size(p));
      be_.copy(slot, mine);
      mine = slot;
    }
    Tracked& t = ready_event();
    t.user = comm_.allgather(mine, all, t.event);
    pending_.push_back(t.user);
  }
  wait_pending();
}

}  // namespace hpct::dist
