#pragma once
// Collectives over a group of ranks, asynchronous: each call returns at once with a Handle to wait
// on, and the operations of one communicator complete in the order they were issued. Buffers may be
// device memory: a collective on data a stream produces takes an Event recorded after the producing
// work (`ready`) and starts once it completed; a stream that consumes the result waits on the Handle
// (Work::wait(stream)) without the host waiting. Host-side values (agreement on a signal, evaluation
// summaries) use wait_host(). Every rank of
// the communicator must issue the same collectives in the same order (DESIGN: collective discipline).
// A wait that does not complete within the timeout throws hpct::Error naming the rank and the
// operation instead of hanging.
#include <chrono>
#include <memory>
#include <string>

#include "core/stream.hpp"
#include "core/tensor.hpp"

namespace hpct::dist {

enum class ReduceOp { sum, average };
// How a reduction buffer spans nodes (make_reduction_buffer): auto = node-aware when the ranks are on
// several nodes; on = node-aware also on one node; off = only when every rank shares one node.
enum class Hierarchy { automatic, on, off };

// Completion of one operation. The waits rethrow an error the operation met; wait_host fails after the
// communicator's timeout, naming the rank and the operation.
class Work : public std::enable_shared_from_this<Work> {
 public:
  virtual ~Work() = default;
  // The host waits.
  virtual void wait_host() = 0;
  // Work enqueued on s after this call starts once the operation completed; the host goes on. By
  // default a host function in stream order that waits (Stream::launch_host); a device communicator
  // (NCCL) makes the stream wait on an event instead.
  virtual void wait(Stream& s) {
    auto self = shared_from_this();
    s.launch_host([self] { self->wait_host(); });
  }
  virtual bool done() const = 0;
};
using Handle = std::shared_ptr<Work>;
// The event a collective waits for before it reads its buffer; null: the data are ready now.
using ReadyEvent = std::shared_ptr<Event>;

// Memory a communicator reduces without copies (see Communicator::make_reduction_buffer). The
// communicator must outlive it; destroying it is collective, like creating it.
class ReductionBuffer {
 public:
  virtual ~ReductionBuffer() = default;
  virtual Tensor tensor() const = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;

  // In place: every rank's buf becomes the element-wise sum (or average) over the ranks, once `ready`
  // (if given) completed.
  virtual Handle allreduce(const Tensor& buf, ReduceOp op, ReadyEvent ready = nullptr) = 0;
  // In place: every rank's buf becomes root's, once `ready` (if given) completed.
  virtual Handle broadcast(const Tensor& buf, int root, ReadyEvent ready = nullptr) = 0;
  // recv [size * n] = the ranks' send [n], in rank order, once `ready` (if given) completed. In place
  // when send is this rank's block of recv (ZeRO's parameter gather).
  virtual Handle allgather(const Tensor& send, const Tensor& recv, ReadyEvent ready = nullptr) = 0;
  // send [size * n] is reduced over the ranks (sum or average); this rank receives its block recv [n],
  // once `ready` (if given) completed. ZeRO's gradient reduction: each rank keeps only its block.
  virtual Handle reduce_scatter(const Tensor& send, const Tensor& recv, ReduceOp op, ReadyEvent ready = nullptr) = 0;
  virtual Handle barrier() = 0;
  // Memory that allreduce() on any range of it reduces fastest, zero-copy: for MPI ranks that all
  // share a node, a shared-memory window (dist/shm_window.hpp); for NCCL, registered device memory.
  // Collective, also when this rank does not want it (wanted = false): then no rank gets one, so the
  // ranks cannot disagree. nullptr when there is no such memory: any memory then works as well.
  virtual std::unique_ptr<ReductionBuffer> make_reduction_buffer(std::int64_t /*elements*/, DType /*dtype*/,
                                                                 bool /*wanted*/ = true) {
    return nullptr;
  }
  // Whether make_reduction_buffer's memory is device memory (NCCL's) rather than host memory (MPI's
  // shared windows). A property of the communicator's kind, so the same on every rank.
  virtual bool reduction_buffer_on_device() const { return false; }
  // Ranks with the same color form a new communicator, ordered by key (then by rank). Collective.
  virtual std::unique_ptr<Communicator> split(int color, int key) = 0;

  // How long wait() allows an operation before it fails (default 300 s).
  void set_timeout(std::chrono::milliseconds t) { timeout_ = t; }
  std::chrono::milliseconds timeout() const { return timeout_; }
  // What make_reduction_buffer builds across nodes (default automatic); a split inherits it.
  void set_hierarchy(Hierarchy h) { hierarchy_ = h; }
  Hierarchy hierarchy() const { return hierarchy_; }

 protected:
  std::chrono::milliseconds timeout_{300000};
  Hierarchy hierarchy_ = Hierarchy::automatic;
};

}  // namespace hpct::dist
