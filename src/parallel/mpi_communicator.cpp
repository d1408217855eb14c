#include "parallel/mpi_communicator.hpp"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <exception>
#include <cstdio>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/trace.hpp"

namespace hpct::dist {

void check_mpi(int rc, const std::string& what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  fail(what, " failed: ", std::string(text, static_cast<std::size_t>(len)));
}

namespace {

MPI_Datatype mpi_type(DType t, const char* what) {
  switch (t) {
    case DType::f32: return MPI_FLOAT;
    case DType::f64: return MPI_DOUBLE;
    case DType::i32: return MPI_INT;
    case DType::i64: return MPI_INT64_T;
    case DType::bf16: case DType::f16: return MPI_UINT16_T;  // summed by sum_op's user function
  }
  fail(what, ": MPI collectives do not support ", name_of(t));
}

// MPI has no 16-bit float types: 16-bit buffers travel as MPI_UINT16_T and are summed by user-defined
// operations that add in float and round to nearest-even (NCCL's bf16/fp16 sums do the same).
template <class H, H (*round)(float)>
void sum16(void* in, void* inout, int* len, MPI_Datatype*) {
  const H* a = static_cast<const H*>(in);
  H* b = static_cast<H*>(inout);
  for (int i = 0; i < *len; ++i) b[i] = round(to_float(a[i]) + to_float(b[i]));
}

// MPI_SUM, or the 16-bit sum (created on first use, on a thread that runs MPI calls).
MPI_Op sum_op(DType t) {
  if (t == DType::bf16) {
    static MPI_Op op = [] {
      MPI_Op o;
      check_mpi(MPI_Op_create(&sum16<bf16, to_bf16>, /*commute=*/1, &o), "MPI_Op_create");
      return o;
    }();
    return op;
  }
  if (t == DType::f16) {
    static MPI_Op op = [] {
      MPI_Op o;
      check_mpi(MPI_Op_create(&sum16<f16, to_f16>, /*commute=*/1, &o), "MPI_Op_create");
      return o;
    }();
    return op;
  }
  return MPI_SUM;
}

int mpi_count(const Tensor& t, const char* what) {
  // The CPU backends' memory (also the asynchronous one's) is host memory MPI can address.
  HPCT_CHECK(t.device.is_host_memory(), what, ": the MPI communicator needs host memory, got ", t.device.str());
  HPCT_CHECK(t.numel() <= INT_MAX, what, ": ", t.numel(), " elements exceed MPI's int count");
  return static_cast<int>(t.numel());
}

// x /= n for the float dtypes (the average of a sum over n ranks). On the communication thread, after
// the collective: the buffer is this communicator's to touch (ptr, not as: it may be device-marked).
void divide(const Tensor& t, int n) {
  if (t.dtype == DType::f32) {
    for (std::int64_t i = 0; i < t.numel(); ++i) t.ptr<float>()[i] /= static_cast<float>(n);
  } else if (t.dtype == DType::f64) {
    for (std::int64_t i = 0; i < t.numel(); ++i) t.ptr<double>()[i] /= n;
  } else if (t.dtype == DType::bf16) {
    bf16* p = t.ptr<bf16>();
    for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = to_bf16(to_float(p[i]) / static_cast<float>(n));
  } else if (t.dtype == DType::f16) {
    f16* p = t.ptr<f16>();
    for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = to_f16(to_float(p[i]) / static_cast<float>(n));
  } else {
    fail("average of ", name_of(t.dtype), " values is not supported");
  }
}

// Blocks until the data a collective reads are ready. The operation may run on a stream's worker (a
// waiter running a shared-window allreduce inline, from Work::wait(stream)); the event was recorded
// earlier on that stream, so it has completed and query() spares the (there forbidden) host wait.
void wait_ready(const ReadyEvent& ready) {
  if (ready && !ready->query()) ready->synchronize();
}

}  // namespace

// One queued operation and its completion.
struct MpiCommunicator::Task final : Work {
  std::string what;
  std::function<void()> op;
  std::chrono::milliseconds timeout{};
  int world_rank = 0;
  MpiCommunicator* owner = nullptr;
  bool may_run_inline = false;  // the op has its own timeout, so the waiting thread may run it
  mutable std::mutex m;
  std::condition_variable cv;
  bool finished = false;
  std::exception_ptr error;

  void run() {
    std::exception_ptr e;
    try {
      op();
    } catch (...) {
      e = std::current_exception();
    }
    {
      std::lock_guard lock(m);
      finished = true;
      error = e;
    }
    cv.notify_all();
  }

  void wait_host() override {
    // A finished task's communicator may be gone (its destructor drains the queue), so only an
    // unfinished one looks at it.
    if (may_run_inline && !done()) owner->try_run_inline(*this);
    // Small collectives finish within microseconds: poll briefly before sleeping, since a sleep and
    // wake-up costs more than that on a core other threads compete for.
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(50);
    while (!done() && std::chrono::steady_clock::now() < until) std::this_thread::yield();
    std::unique_lock lock(m);
    if (!cv.wait_for(lock, timeout, [&] { return finished; })) {
      const std::string msg = cat("rank ", world_rank, ": ", what, " did not complete within ", timeout.count() / 1000.0,
                                  " s (a peer rank failed, hangs, or issued different collectives)");
      owner->note_error(msg);
      fail(msg);
    }
    if (error) std::rethrow_exception(error);
  }
  bool done() const override {
    std::lock_guard lock(m);
    return finished;
  }
};

MpiCommunicator::MpiCommunicator(MPI_Comm comm, int world_rank) : comm_(comm), world_rank_(world_rank) {
  check_mpi(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
  check_mpi(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
  // Errors come back as return codes (then hpct::Error), not as MPI's default abort.
  check_mpi(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  thread_ = std::thread([this] { loop(); });
}

MpiCommunicator::~MpiCommunicator() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  // While an exception unwinds (this rank failed; main would end the job with MPI_Abort), the
  // communication thread may be blocked for ever in a collective that a dead or stopped peer never
  // joins: joining it would keep main's abort from ever being reached (seen with an ensemble group
  // whose peer hung). So a thread still busy after a grace period ends the job from here, naming this
  // rank, the operation it is stuck in, and the error that started the unwinding where one was seen.
  if (std::uncaught_exceptions() > 0) {
    std::unique_lock lock(mutex_);
    if (!cv_.wait_for(lock, std::chrono::seconds(2), [&] { return !busy_ && queue_.empty(); })) {
      // The error as rethrown with context by a caller ("... (at epoch E, step S)"), when it is this one.
      const std::string latest = latest_error();
      // This communicator's own error, or (when it saw none: another communicator's collective failed
      // while this one's thread waits for a peer) the error that is unwinding.
      const std::string seen = last_error_.empty() || latest.find(last_error_) != std::string::npos ? latest : last_error_;
      log::error_line(cat("hpctrain: rank ", world_rank_, ": error: ", seen.empty() ? "" : seen + "; ",
                          "the communication thread is still in '", running_, "' (a peer rank failed or hangs): ",
                          "ending the job"));
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
  }
  thread_.join();
  if (comm_ != MPI_COMM_WORLD && comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

void MpiCommunicator::note_error(const std::string& msg) {
  std::lock_guard lock(mutex_);
  last_error_ = msg;
}

Handle MpiCommunicator::enqueue(std::string what, std::function<void()> op, bool may_run_inline) {
  auto task = std::make_shared<Task>();
  task->what = std::move(what);
  task->op = std::move(op);
  task->timeout = timeout_;
  task->world_rank = world_rank_;
  task->owner = this;
  task->may_run_inline = may_run_inline;
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(task);
  }
  cv_.notify_all();
  return task;
}

// One operation at a time, in issue order: `busy_` covers an operation run by this thread or by a
// waiter (try_run_inline).
void MpiCommunicator::loop() {
  trace::name_thread("communication");
  for (;;) {
    std::shared_ptr<Task> task;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return !busy_ && (stop_ || !queue_.empty()); });
      if (queue_.empty()) return;  // stopping, and nothing left to do
      task = queue_.front();
      queue_.pop_front();
      busy_ = true;
      running_ = task->what;
    }
    task->run();
    {
      std::lock_guard lock(mutex_);
      busy_ = false;
    }
    cv_.notify_all();
  }
}

// The waiter runs the operation itself when it is next in line and nothing else is running: the
// common case of the last gradient bucket, waited on as soon as it is issued, then costs no thread
// hand-offs. Only operations with their own timeout qualify (the shared-window allreduce), so a
// waiter can never block in MPI beyond the communicator's timeout.
void MpiCommunicator::try_run_inline(Task& task) {
  {
    std::lock_guard lock(mutex_);
    if (busy_ || queue_.empty() || queue_.front().get() != &task) return;
    queue_.pop_front();
    busy_ = true;
    running_ = task.what;
  }
  task.run();
  {
    std::lock_guard lock(mutex_);
    busy_ = false;
  }
  cv_.notify_all();
}

// A buffer inside a shared window (the same range on every rank, by the collective discipline) is
// reduced in place through the window; any other goes to MPI_Allreduce.
Handle MpiCommunicator::allreduce(const Tensor& buf, ReduceOp op, ReadyEvent ready) {
  const int n = mpi_count(buf, "allreduce");
  const MPI_Datatype type = mpi_type(buf.dtype, "allreduce");
  const std::string what = cat("allreduce of ", n, " ", name_of(buf.dtype));
  if (const InWindow in = window_of(buf, /*node_aware=*/true); in.window) {
    const auto timeout = timeout_;
    const int size = size_;
    return enqueue(what, [=] {
      wait_ready(ready);
      const trace::Span span("allreduce (shared window)", "comm", static_cast<std::int64_t>(buf.bytes()));
      if (!in.window->across_nodes()) return in.window->allreduce(in.offset, n, buf.dtype, op, timeout);
      // Node-aware: sum inside the node, leaders sum across nodes (then average), the node copies it.
      in.window->allreduce(in.offset, n, buf.dtype, ReduceOp::sum, timeout);
      in.window->share_from_leader(in.offset, buf.bytes(), timeout, [&] {
        check_mpi(MPI_Allreduce(MPI_IN_PLACE, buf.data, n, type, sum_op(buf.dtype), in.window->leaders()),
                  "MPI_Allreduce (node leaders)");
        if (op == ReduceOp::average) divide(buf, size);
      });
    }, /*may_run_inline=*/!in.window->across_nodes());  // MPI_Allreduce has no timeout of its own
  }
  return enqueue(what, [=, this] {
    wait_ready(ready);
    const trace::Span span("allreduce", "comm", static_cast<std::int64_t>(buf.bytes()));
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, buf.data, n, type, sum_op(buf.dtype), comm_), "MPI_Allreduce");
    if (op == ReduceOp::average) divide(buf, size_);
  });
}

// Owns a window; creation and MPI_Win_free run on the communication thread, in order with the
// collectives.
class MpiCommunicator::SharedBuffer final : public ReductionBuffer {
 public:
  SharedBuffer(MpiCommunicator& comm, std::unique_ptr<ShmWindow> w, std::int64_t elements, DType dtype)
      : comm_(comm), window_(std::move(w)), elements_(elements), dtype_(dtype) {}
  // Freeing the window is collective. While an exception unwinds (this rank failed; its peers may
  // be waiting in a collective and will never join), nothing collective is attempted: the window is
  // only unregistered and left to the MPI_Abort that follows. Otherwise the free runs on the
  // communication thread, in order, and owns the window, so a timed-out wait leaves nothing dangling.
  ~SharedBuffer() override {
    ShmWindow* w = window_.release();
    MpiCommunicator* c = &comm_;
    if (std::uncaught_exceptions() > 0) {
      std::lock_guard lock(c->mutex_);
      std::erase(c->windows_, w);
      return;
    }
    try {
      c->enqueue("free shared window", [c, w] {
        {
          std::lock_guard lock(c->mutex_);
          std::erase(c->windows_, w);
        }
        delete w;
      })->wait_host();
    } catch (const Error& e) {  // a destructor must not throw; the job is failing anyway
      std::fprintf(stderr, "%s\n", e.what());
    }
  }
  Tensor tensor() const override { return Tensor(window_->local(), Shape{elements_}, dtype_); }

 private:
  MpiCommunicator& comm_;
  std::unique_ptr<ShmWindow> window_;
  std::int64_t elements_;
  DType dtype_;
};

namespace {
// The ranks sharing this rank's node. Forced on, HPCTRAIN_RANKS_PER_NODE=K cuts each node into
// "nodes" of K ranks, so that one host can test the node-aware path across emulated nodes.
MPI_Comm node_comm(MPI_Comm comm, int rank, Hierarchy hierarchy) {
  MPI_Comm node = MPI_COMM_NULL;
  check_mpi(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node), "MPI_Comm_split_type");
  const char* k = std::getenv("HPCTRAIN_RANKS_PER_NODE");
  if (hierarchy != Hierarchy::on || !k || std::atoi(k) <= 0) return node;
  int node_rank = 0;
  MPI_Comm_rank(node, &node_rank);
  MPI_Comm part = MPI_COMM_NULL;
  check_mpi(MPI_Comm_split(node, node_rank / std::atoi(k), node_rank, &part), "MPI_Comm_split");
  MPI_Comm_free(&node);
  return part;
}
}  // namespace

std::unique_ptr<ReductionBuffer> MpiCommunicator::make_reduction_buffer(std::int64_t elements, DType dtype,
                                                                        bool wanted) {
  if (size_ == 1) return nullptr;
  // The window is handed over through the task (not this stack frame, which a timed-out wait leaves).
  auto made = std::make_shared<std::unique_ptr<ShmWindow>>();
  const Hierarchy hierarchy = hierarchy_;
  enqueue("shared window", [=, this] {
    MPI_Comm node = node_comm(comm_, rank_, hierarchy);
    int node_size = 0, node_rank = 0;
    MPI_Comm_size(node, &node_size);
    MPI_Comm_rank(node, &node_rank);
    // Every rank must agree: whether every rank asked for it, and whether all share one node.
    int agree[2] = {wanted ? 1 : 0, node_size == size_ ? 1 : 0};
    const int rc = MPI_Allreduce(MPI_IN_PLACE, agree, 2, MPI_INT, MPI_MIN, comm_);
    const bool across = hierarchy == Hierarchy::on || (hierarchy == Hierarchy::automatic && !agree[1]);
    if (rc == MPI_SUCCESS && agree[0] && (agree[1] || across)) {
      *made = std::make_unique<ShmWindow>(node, static_cast<std::size_t>(elements) * size_of(dtype), world_rank_);
      if (across) {
        MPI_Comm leaders = MPI_COMM_NULL;
        check_mpi(MPI_Comm_split(comm_, node_rank == 0 ? 0 : MPI_UNDEFINED, rank_, &leaders), "MPI_Comm_split");
        (*made)->set_across_nodes(leaders);
        int nodes = 0;
        if (leaders != MPI_COMM_NULL) MPI_Comm_size(leaders, &nodes);
        if (world_rank_ == 0)
          log::info(cat("gradients: node-aware reduction: shared memory inside each node (", node_size,
                        " rank(s) here), MPI_Allreduce among ", nodes, " node leader(s)"));
      }
      std::lock_guard lock(mutex_);
      windows_.push_back(made->get());
    }
    MPI_Comm_free(&node);
    check_mpi(rc, "MPI_Allreduce");
  })->wait_host();
  if (!*made) return nullptr;
  return std::make_unique<SharedBuffer>(*this, std::move(*made), elements, dtype);
}

Handle MpiCommunicator::broadcast(const Tensor& buf, int root, ReadyEvent ready) {
  HPCT_CHECK(root >= 0 && root < size_, "broadcast: root ", root, " outside a communicator of ", size_);
  const int n = mpi_count(buf, "broadcast");
  const MPI_Datatype type = mpi_type(buf.dtype, "broadcast");
  return enqueue(cat("broadcast of ", n, " ", name_of(buf.dtype)),
                 [=, this] {
                   wait_ready(ready);
                   check_mpi(MPI_Bcast(buf.data, n, type, root, comm_), "MPI_Bcast");
                 });
}

MpiCommunicator::InWindow MpiCommunicator::window_of(const Tensor& buf, bool node_aware) {
  std::lock_guard lock(mutex_);
  for (ShmWindow* w : windows_)
    if (w->contains(buf.data, buf.bytes()) && (node_aware || !w->across_nodes()))
      return {w, static_cast<std::size_t>(static_cast<char*>(buf.data) - static_cast<char*>(w->local()))};
  return {};
}

// A send inside a shared window (the same range on every rank) is read straight from the peers'
// buffers; a send that is this rank's block of recv is gathered in place (MPI_IN_PLACE).
Handle MpiCommunicator::allgather(const Tensor& send, const Tensor& recv, ReadyEvent ready) {
  const int n = mpi_count(send, "allgather");
  HPCT_CHECK(recv.numel() == static_cast<std::int64_t>(n) * size_ && recv.dtype == send.dtype,
             "allgather: recv has ", recv.numel(), " ", name_of(recv.dtype), ", expected ", size_, " x ", n, " ",
             name_of(send.dtype));
  mpi_count(recv, "allgather");
  const MPI_Datatype type = mpi_type(send.dtype, "allgather");
  const std::string what = cat("allgather of ", n, " ", name_of(send.dtype));
  if (const InWindow in = window_of(send, /*node_aware=*/false); in.window) {
    const auto timeout = timeout_;
    return enqueue(what, [=] {
      wait_ready(ready);
      const trace::Span span("allgather (shared window)", "comm", static_cast<std::int64_t>(recv.bytes()));
      in.window->allgather(in.offset, send.bytes(), recv.data, timeout);
    }, /*may_run_inline=*/true);
  }
  const bool in_place = send.data == static_cast<char*>(recv.data) + static_cast<std::size_t>(rank_) * send.bytes();
  return enqueue(what, [=, this] {
    wait_ready(ready);
    const trace::Span span("allgather", "comm", static_cast<std::int64_t>(recv.bytes()));
    check_mpi(MPI_Allgather(in_place ? MPI_IN_PLACE : send.data, n, type, recv.data, n, type, comm_), "MPI_Allgather");
  });
}

// A send inside a shared window: this rank sums its block over the peers' buffers, in rank order (the
// shared-window allreduce's sums, bit for bit); otherwise MPI_Reduce_scatter_block.
Handle MpiCommunicator::reduce_scatter(const Tensor& send, const Tensor& recv, ReduceOp op, ReadyEvent ready) {
  const int n = mpi_count(recv, "reduce_scatter");
  HPCT_CHECK(send.numel() == static_cast<std::int64_t>(n) * size_ && recv.dtype == send.dtype,
             "reduce_scatter: send has ", send.numel(), " ", name_of(send.dtype), ", expected ", size_, " x ", n,
             " ", name_of(recv.dtype));
  mpi_count(send, "reduce_scatter");
  const MPI_Datatype type = mpi_type(send.dtype, "reduce_scatter");
  const std::string what = cat("reduce_scatter of ", n, " ", name_of(send.dtype));
  if (const InWindow in = window_of(send, /*node_aware=*/false); in.window) {
    const auto timeout = timeout_;
    return enqueue(what, [=] {
      wait_ready(ready);
      const trace::Span span("reduce_scatter (shared window)", "comm", static_cast<std::int64_t>(send.bytes()));
      in.window->reduce_scatter(in.offset, n, send.dtype, op, recv.data, timeout);
    }, /*may_run_inline=*/true);
  }
  return enqueue(what, [=, this] {
    wait_ready(ready);
    const trace::Span span("reduce_scatter", "comm", static_cast<std::int64_t>(send.bytes()));
    check_mpi(MPI_Reduce_scatter_block(send.data, recv.data, n, type, sum_op(send.dtype), comm_),
              "MPI_Reduce_scatter_block");
    if (op == ReduceOp::average) divide(recv, size_);
  });
}

Handle MpiCommunicator::barrier() {
  return enqueue("barrier", [this] { check_mpi(MPI_Barrier(comm_), "MPI_Barrier"); });
}

std::unique_ptr<Communicator> MpiCommunicator::split(int color, int key) {
  HPCT_CHECK(color >= 0, "split: color must be >= 0, got ", color);
  // On the communication thread, in order with the collectives already queued. The result lives in
  // shared memory of the task, not on this stack: a wait that times out leaves the task running.
  auto sub = std::make_shared<MPI_Comm>(MPI_COMM_NULL);
  enqueue(cat("split (color ", color, ")"),
          [=, this] { check_mpi(MPI_Comm_split(comm_, color, key, sub.get()), "MPI_Comm_split"); })
      ->wait_host();
  auto child = std::make_unique<MpiCommunicator>(*sub, world_rank_);
  child->set_timeout(timeout_);
  child->set_hierarchy(hierarchy_);
  return child;
}

}  // namespace hpct::dist
