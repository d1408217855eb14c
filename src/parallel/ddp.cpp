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
  // Always asked (it is collective), so ranks that disagree on zero_copy still agree on the outcome.
  // A shared-memory window is host memory: only a backend whose kernels address host memory (the CPU
  // backends) can keep gradients there; its view then carries the backend's device. NCCL's registered
  // buffer is device memory, for the CUDA backend; a buffer of the other kind is let go (every rank
  // has the same backend kind, so all do).
  const bool host = be.device().is_host_memory();
  const bool usable = opt.zero_copy && (host || be.device().kind == DeviceKind::cuda);
  shared_ = comm_.make_reduction_buffer(store.flat_size(), store.dtype(), usable);
  if (shared_ && shared_->tensor().device.is_host_memory() != host) shared_.reset();
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
  be_.checksum(store_.flat_weights(), digest);
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
    t.user = comm_.allreduce(store_.flat_grads().flat_range(b.begin, b.end - b.begin), ReduceOp::average, t.event);
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
  Stopwatch wait;
  for (const Handle& h : pending_) h->wait(be_.stream());
  pending_.clear();
  next_ = 0;
  return wait.seconds();
}

}  // namespace hpct::dist
