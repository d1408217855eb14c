// CpuAsyncBackend: streams as worker threads, events as markers in their queues, poisoned memory
// that is freed only once no queued op can use it. See cpu_async_backend.hpp for the contract.
#include "kernels/cpu/cpu_async_backend.hpp"

#include <omp.h>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/log.hpp"

// OpenBLAS's own entry point, as in cpu_backend.cpp (both builds of OpenBLAS have it).
extern "C" void openblas_set_num_threads(int);

namespace hpct::kernels {
namespace async_detail {
namespace {

// The stream whose worker is this thread (nullptr on every other thread): host waits are refused
// there, and memory an op frees is its own scratch (see PoisonAllocator::deallocate).
thread_local AsyncStream* tl_worker = nullptr;

// A closure stored in place: no heap allocation per op. The largest op closure (layernorm_backward:
// eight 80-byte tensors and the backend pointer) is 648 bytes; the static_assert names any that
// outgrows the capacity.
class Task {
 public:
  static constexpr std::size_t kCapacity = 704;

  Task() = default;
  template <class F>
  explicit Task(F&& f) {
    using D = std::decay_t<F>;
    static_assert(sizeof(D) <= kCapacity, "an op closure outgrew Task::kCapacity");
    static_assert(alignof(D) <= alignof(std::max_align_t));
    static_assert(std::is_nothrow_move_constructible_v<D>);
    ::new (static_cast<void*>(buf_)) D(std::forward<F>(f));
    invoke_ = [](void* p) { (*static_cast<D*>(p))(); };
    manage_ = [](void* dst, void* src) noexcept {
      if (dst) ::new (dst) D(std::move(*static_cast<D*>(src)));
      static_cast<D*>(src)->~D();
    };
  }
  Task(Task&& o) noexcept { take(o); }
  Task& operator=(Task&& o) noexcept {
    if (this != &o) {
      reset();
      take(o);
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { reset(); }

  void operator()() { invoke_(buf_); }
  void reset() noexcept {
    if (manage_) manage_(nullptr, buf_);
    invoke_ = nullptr;
    manage_ = nullptr;
  }

 private:
  void take(Task& o) noexcept {
    if (o.manage_) o.manage_(buf_, o.buf_);
    invoke_ = std::exchange(o.invoke_, nullptr);
    manage_ = std::exchange(o.manage_, nullptr);
  }
  alignas(std::max_align_t) unsigned char buf_[kCapacity];
  void (*invoke_)(void*) = nullptr;
  void (*manage_)(void* dst, void* src) noexcept = nullptr;
};

}  // namespace

// An error an op raised: its message, and when it happened (backend-wide order), so that
// Backend::synchronize reports the earliest of several streams' errors.
struct StreamError {
  std::string message;
  std::uint64_t order = 0;
};
using ErrorPtr = std::shared_ptr<const StreamError>;

// Allocator of the backend's cpu_async memory.
class PoisonAllocator final : public Allocator {
 public:
  explicit PoisonAllocator(Core& core) : core_(core) {}
  // Host memory filled with 0xFF bytes: NaN in f32, f64, bf16 and f16, -1 in i32 and i64.
  void* allocate(std::size_t bytes) override {
    void* p = host_allocator().allocate(bytes);
    if (p) std::memset(p, 0xFF, bytes);
    return p;
  }
  // A Buffer is freed on the host as soon as the host is done with it, while ops enqueued earlier
  // that read or write it may still be queued (the trainer frees a batch it has just enqueued work
  // on). A GPU allocator defers the reuse in stream order; the simplest correct rule here is to wait
  // until every stream of the backend has run what was enqueued so far, then free. That wait is not
  // counted as a host sync: the program reads nothing. On a worker thread (an op or host function
  // freeing memory it allocated for itself) the memory is freed at once: waiting there could wait for
  // the op itself, or for a stream that waits on this one.
  void deallocate(void* p) noexcept override;
  Device device() const override { return {DeviceKind::cpu_async, 0}; }

 private:
  Core& core_;
};

// What the streams, events and allocator of one backend share. Owned jointly by the backend and its
// streams, so a stream destroyed after its backend still finds the registry.
struct Core {
  explicit Core(int t) : threads(t) {}
  const int threads;  // each worker's OpenMP count (the kernels name their team size anyway)
  CpuAsyncBackend* backend = nullptr;  // counts host syncs; nullptr once the backend is destroyed
  PoisonAllocator alloc{*this};
  std::mutex registry_mutex;
  std::vector<AsyncStream*> streams;  // every live stream of the backend, guarded by registry_mutex
  std::atomic<std::uint64_t> next_order{0};
  // What a stream reports when recording an op's error ran out of memory.
  const std::shared_ptr<const StreamError> no_memory_error = std::make_shared<StreamError>(
      StreamError{"cpu-async: an op failed, and recording its error ran out of memory", 0});

  // Waits until every stream has run what was enqueued on it so far. Neither counts nor throws.
  void drain_all();
  void count_host_sync() {
    if (backend) backend->note_host_sync();
  }
  std::uint64_t order() { return ++next_order; }
};

// One stream: a worker thread running a FIFO of closures. Ops are skipped while an error is pending;
// control tasks (event markers, waits) always run.
class AsyncStream final : public Stream {
 public:
  explicit AsyncStream(std::shared_ptr<Core> core) : core_(std::move(core)), ring_(kInitialSlots) {
    {
      std::lock_guard lk(core_->registry_mutex);
      core_->streams.push_back(this);
    }
    try {
      worker_ = std::thread([this] { run(); });
    } catch (...) {
      unregister();
      throw;
    }
  }
  // Runs what is queued, then joins the worker.
  ~AsyncStream() override {
    unregister();
    {
      std::lock_guard lk(m_);
      stop_ = true;
    }
    work_cv_.notify_one();
    worker_.join();
    if (error_)
      log::warn("cpu-async: a stream was destroyed with an error no wait reported: " + error_->message);
  }
  AsyncStream(const AsyncStream&) = delete;
  AsyncStream& operator=(const AsyncStream&) = delete;

  void wait(const Event& e) override;
  // fn runs on the worker, in stream order, as an op: skipped while an error is pending, and what it
  // throws becomes the stream's error.
  void launch_host(std::function<void()> fn) override { enqueue([fn = std::move(fn)] { fn(); }); }
  void synchronize() override {
    refuse_on_worker("Stream::synchronize");
    drain();
    core_->count_host_sync();
    if (const ErrorPtr err = take_error()) throw Error(err->message);
  }

  Core* core() const { return core_.get(); }

  // Appends f to the queue. control: run it even while an error is pending (markers, waits).
  template <class F>
  void enqueue(F&& f, bool control = false) {
    bool wake;
    {
      std::lock_guard lk(m_);
      if (size_ == ring_.size()) grow();
      Slot& s = ring_[(head_ + size_) & (ring_.size() - 1)];
      s.task = Task(std::forward<F>(f));
      s.control = control;
      ++size_;
      ++enqueued_;
      wake = idle_;
    }
    if (wake) work_cv_.notify_one();
  }

  // Waits until everything enqueued so far has run (a no-op on this stream's own worker).
  void drain() noexcept {
    if (tl_worker == this) return;
    std::unique_lock lk(m_);
    const std::uint64_t ticket = enqueued_;
    if (completed_ >= ticket) return;
    ++waiters_;
    done_cv_.wait(lk, [&] { return completed_ >= ticket; });
    --waiters_;
  }
  // The pending error, cleared: reported errors stop skipping ops.
  ErrorPtr take_error() {
    std::lock_guard lk(m_);
    return std::exchange(error_, nullptr);
  }
  ErrorPtr error() {
    std::lock_guard lk(m_);
    return error_;
  }
  // An error of work this stream waited for becomes this stream's (unless it has one already).
  void adopt(const ErrorPtr& err) {
    std::lock_guard lk(m_);
    if (!error_) error_ = err;
  }

  static void refuse_on_worker(const char* what) {
    HPCT_CHECK(tl_worker == nullptr, "cpu-async: ", what, " called inside an op (on a stream's worker thread)");
  }

 private:
  struct Slot {
    Task task;
    bool control = false;
  };
  static constexpr std::size_t kInitialSlots = 64;  // a power of two; doubles when full

  // Doubles the ring, keeping the queued slots in order (m_ held).
  void grow() {
    std::vector<Slot> bigger(ring_.size() * 2);
    for (std::size_t i = 0; i < size_; ++i) bigger[i] = std::move(ring_[(head_ + i) & (ring_.size() - 1)]);
    ring_ = std::move(bigger);
    head_ = 0;
  }

  void run() {
    tl_worker = this;
    // CpuBackend::apply_threads for this thread, in its order: the OpenMP build of OpenBLAS sets the
    // calling thread's OpenMP count in openblas_set_num_threads.
    openblas_set_num_threads(1);
    omp_set_num_threads(core_->threads);
    Slot slot;
    for (;;) {
      bool skip;
      {
        std::unique_lock lk(m_);
        if (size_ == 0) {
          idle_ = true;
          work_cv_.wait(lk, [&] { return size_ > 0 || stop_; });
          idle_ = false;
          if (size_ == 0) return;  // stopped, and drained
        }
        slot = std::move(ring_[head_]);
        head_ = (head_ + 1) & (ring_.size() - 1);
        --size_;
        skip = error_ && !slot.control;
      }
      if (!skip) {
        try {
          slot.task();
        } catch (const std::exception& e) {
          fail_with(e.what());
        } catch (...) {
          fail_with("cpu-async: an op threw a non-standard exception");
        }
      }
      slot.task.reset();
      std::lock_guard lk(m_);
      ++completed_;
      if (waiters_) done_cv_.notify_all();
    }
  }
  // Records the op's error (the first one stands). Never lets an exception out of the worker: short
  // of memory for the message, the stream still fails, with the error the core set aside.
  void fail_with(const char* message) noexcept {
    ErrorPtr err;
    try {
      err = std::make_shared<StreamError>(StreamError{message, core_->order()});
    } catch (...) {
      err = core_->no_memory_error;
    }
    std::lock_guard lk(m_);
    if (!error_) error_ = std::move(err);
  }
  void unregister() noexcept {
    std::lock_guard lk(core_->registry_mutex);
    std::erase(core_->streams, this);
  }

  std::shared_ptr<Core> core_;
  std::mutex m_;
  std::condition_variable work_cv_;  // the worker waits for work (or stop)
  std::condition_variable done_cv_;  // host waits for completed_
  std::vector<Slot> ring_;           // guarded by m_, as is everything below
  std::size_t head_ = 0, size_ = 0;
  std::uint64_t enqueued_ = 0, completed_ = 0;
  int waiters_ = 0;
  bool idle_ = false, stop_ = false;
  ErrorPtr error_;
  std::thread worker_;  // last: started once the members above exist
};

void Core::drain_all() {
  std::lock_guard lk(registry_mutex);
  for (AsyncStream* s : streams) s->drain();
}

void PoisonAllocator::deallocate(void* p) noexcept {
  if (!p) return;
  if (tl_worker == nullptr) core_.drain_all();
  host_allocator().deallocate(p);
}

// The completion state of an event, shared with the markers in stream queues (an event may be
// destroyed while its marker is queued).
struct EventState {
  std::mutex m;
  std::condition_variable cv;
  std::uint64_t recorded = 0;  // records so far; record k completes when done >= k
  std::uint64_t done = 0;
  ErrorPtr error;  // the pending error of the stream when the latest completed marker ran

  void complete(std::uint64_t gen, ErrorPtr err) {
    {
      std::lock_guard lk(m);
      if (gen > done) {
        done = gen;
        error = std::move(err);
      }
    }
    cv.notify_all();
  }
  ErrorPtr wait_for(std::uint64_t gen) {
    std::unique_lock lk(m);
    cv.wait(lk, [&] { return done >= gen; });
    return error;
  }
};

class AsyncEvent final : public Event {
 public:
  explicit AsyncEvent(std::shared_ptr<Core> core) : core_(std::move(core)) {}

  void record(Stream& s) override {
    AsyncStream& as = cast(s, "Event::record");
    std::uint64_t gen;
    {
      std::lock_guard lk(state_->m);
      gen = ++state_->recorded;
    }
    as.enqueue([st = state_, gen, &as] { st->complete(gen, as.error()); }, true);
  }
  bool query() const override {
    std::lock_guard lk(state_->m);
    return state_->done >= state_->recorded;
  }
  void synchronize() override {
    AsyncStream::refuse_on_worker("Event::synchronize");
    std::uint64_t gen;
    {
      std::lock_guard lk(state_->m);
      gen = state_->recorded;
    }
    const ErrorPtr err = state_->wait_for(gen);
    core_->count_host_sync();
    if (err) throw Error(err->message);
  }

  const std::shared_ptr<EventState>& state() const { return state_; }

  static AsyncStream& cast(Stream& s, const char* what) {
    auto* as = dynamic_cast<AsyncStream*>(&s);
    HPCT_CHECK(as, "cpu-async: ", what, " on a stream of another backend");
    return *as;
  }

 private:
  std::shared_ptr<Core> core_;
  std::shared_ptr<EventState> state_ = std::make_shared<EventState>();
};

void AsyncStream::wait(const Event& e) {
  const auto* ae = dynamic_cast<const AsyncEvent*>(&e);
  HPCT_CHECK(ae, "cpu-async: Stream::wait on an event of another backend");
  std::shared_ptr<EventState> st = ae->state();
  std::uint64_t gen;
  {
    std::lock_guard lk(st->m);
    gen = st->recorded;
  }
  if (gen == 0) return;  // never recorded: complete
  enqueue(
      [st = std::move(st), gen, this] {
        if (const ErrorPtr err = st->wait_for(gen)) adopt(err);
      },
      true);
}

}  // namespace async_detail

using async_detail::AsyncEvent;
using async_detail::AsyncStream;
using async_detail::Core;

std::unique_ptr<Backend> make_cpu_async_backend(int threads) { return std::make_unique<CpuAsyncBackend>(threads); }

CpuAsyncBackend::CpuAsyncBackend(int threads) : CpuBackend(threads), core_(std::make_shared<Core>(this->threads())) {
  core_->backend = this;
  default_ = std::make_unique<AsyncStream>(core_);
  set_default_stream(*default_);
}

CpuAsyncBackend::~CpuAsyncBackend() {
  core_->drain_all();  // streams created by the program that outlive this call run their queued ops too
  default_.reset();    // drains (again: nothing left) and joins
  core_->backend = nullptr;
}

Allocator& CpuAsyncBackend::allocator() { return core_->alloc; }

std::unique_ptr<Stream> CpuAsyncBackend::create_stream() { return std::make_unique<AsyncStream>(core_); }

std::unique_ptr<Event> CpuAsyncBackend::create_event() { return std::make_unique<AsyncEvent>(core_); }

void CpuAsyncBackend::synchronize() {
  AsyncStream::refuse_on_worker("Backend::synchronize");
  async_detail::ErrorPtr first;
  {
    std::lock_guard lk(core_->registry_mutex);
    for (AsyncStream* s : core_->streams) s->drain();
    for (AsyncStream* s : core_->streams)
      if (async_detail::ErrorPtr err = s->take_error(); err && (!first || err->order < first->order))
        first = std::move(err);
  }
  count_host_sync();
  if (first) throw Error(first->message);
}

// On a worker thread the op is part of the op or host function running there (a kernel calling
// another through its virtual *_impl, a host function calling the backend): it runs at once, in that
// stream's order, and the host's current stream is not read from the worker.
template <class F>
void CpuAsyncBackend::enqueue(F&& f) {
  if (async_detail::tl_worker) {
    f();
    return;
  }
  auto* s = dynamic_cast<AsyncStream*>(&stream());
  HPCT_CHECK(s && s->core() == core_.get(), "cpu-async: the current stream is not a stream of this backend");
  s->enqueue(std::forward<F>(f));
}

// ---- the ops: each enqueues CpuBackend's kernel with copies of its arguments --------------------------

void CpuAsyncBackend::copy_impl(const Tensor& dst, const Tensor& src) {
  enqueue([=, this] { CpuBackend::copy_impl(dst, src); });
}
void CpuAsyncBackend::fill_impl(const Tensor& t, double value) {
  enqueue([=, this] { CpuBackend::fill_impl(t, value); });
}
void CpuAsyncBackend::cast_impl(const Tensor& src, const Tensor& dst) {
  enqueue([=, this] { CpuBackend::cast_impl(src, dst); });
}
void CpuAsyncBackend::gather_rows_impl(const Tensor& src, const Tensor& index, const Tensor& out) {
  enqueue([=, this] { CpuBackend::gather_rows_impl(src, index, out); });
}
// The epilogue points at the caller's tensors, which are gone when the op runs: the closure keeps
// copies and points a fresh epilogue at them.
void CpuAsyncBackend::gemm_impl(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, const Tensor& c,
                                double alpha, double beta, const GemmEpilogue& epilogue) {
  const bool has_bias = epilogue.bias != nullptr, has_y = epilogue.y != nullptr;
  const Tensor bias = has_bias ? *epilogue.bias : Tensor{}, y = has_y ? *epilogue.y : Tensor{};
  const Activation act = epilogue.act;
  enqueue([=, this] {
    CpuBackend::gemm_impl(a, trans_a, b, trans_b, c, alpha, beta,
                          GemmEpilogue{has_bias ? &bias : nullptr, act, has_y ? &y : nullptr});
  });
}
void CpuAsyncBackend::bias_add_impl(const Tensor& y, const Tensor& bias) {
  enqueue([=, this] { CpuBackend::bias_add_impl(y, bias); });
}
void CpuAsyncBackend::bias_grad_impl(const Tensor& dy, const Tensor& dbias) {
  enqueue([=, this] { CpuBackend::bias_grad_impl(dy, dbias); });
}
void CpuAsyncBackend::axpy_impl(double alpha, const Tensor& x, const Tensor& y) {
  enqueue([=, this] { CpuBackend::axpy_impl(alpha, x, y); });
}
void CpuAsyncBackend::scale_impl(const Tensor& x, double alpha) {
  enqueue([=, this] { CpuBackend::scale_impl(x, alpha); });
}
void CpuAsyncBackend::sum_squares_impl(const Tensor& x, const Tensor& out) {
  enqueue([=, this] { CpuBackend::sum_squares_impl(x, out); });
}

void CpuAsyncBackend::checksum_impl(const Tensor& x, const Tensor& out) {
  enqueue([=, this] { CpuBackend::checksum_impl(x, out); });
}
void CpuAsyncBackend::activation_forward_impl(Activation f, const Tensor& x, const Tensor& y) {
  enqueue([=, this] { CpuBackend::activation_forward_impl(f, x, y); });
}
void CpuAsyncBackend::activation_backward_impl(Activation f, const Tensor& x, const Tensor& dy, const Tensor& dx) {
  enqueue([=, this] { CpuBackend::activation_backward_impl(f, x, dy, dx); });
}
void CpuAsyncBackend::activation_bias_grad_impl(Activation f, const Tensor& x, const Tensor& dy, const Tensor& dx,
                                                const Tensor& dbias) {
  enqueue([=, this] { CpuBackend::activation_bias_grad_impl(f, x, dy, dx, dbias); });
}
void CpuAsyncBackend::dropout_forward_impl(const Tensor& x, const Tensor& y, double p, std::uint64_t seed,
                                           std::uint64_t stream, const Tensor& row_ids) {
  enqueue([=, this] { CpuBackend::dropout_forward_impl(x, y, p, seed, stream, row_ids); });
}
void CpuAsyncBackend::dropout_backward_impl(const Tensor& dy, const Tensor& dx, double p, std::uint64_t seed,
                                            std::uint64_t stream, const Tensor& row_ids) {
  enqueue([=, this] { CpuBackend::dropout_backward_impl(dy, dx, p, seed, stream, row_ids); });
}
void CpuAsyncBackend::layernorm_forward_impl(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                             const Tensor& y, const Tensor& mean, const Tensor& rstd, double eps) {
  enqueue([=, this] { CpuBackend::layernorm_forward_impl(x, gamma, beta, y, mean, rstd, eps); });
}
void CpuAsyncBackend::layernorm_backward_impl(const Tensor& x, const Tensor& gamma, const Tensor& mean,
                                              const Tensor& rstd, const Tensor& dy, const Tensor& dx,
                                              const Tensor& dgamma, const Tensor& dbeta) {
  enqueue([=, this] { CpuBackend::layernorm_backward_impl(x, gamma, mean, rstd, dy, dx, dgamma, dbeta); });
}
void CpuAsyncBackend::softmax_forward_impl(const Tensor& x, const Tensor& y) {
  enqueue([=, this] { CpuBackend::softmax_forward_impl(x, y); });
}
void CpuAsyncBackend::softmax_backward_impl(const Tensor& y, const Tensor& dy, const Tensor& dx) {
  enqueue([=, this] { CpuBackend::softmax_backward_impl(y, dy, dx); });
}
void CpuAsyncBackend::attention_forward_impl(const Tensor& qkv, const Tensor& out, const Tensor& saved,
                                             const AttentionArgs& args) {
  enqueue([=, this] { CpuBackend::attention_forward_impl(qkv, out, saved, args); });
}
void CpuAsyncBackend::attention_backward_impl(const Tensor& qkv, const Tensor& out, const Tensor& saved,
                                              const Tensor& dout, const Tensor& dqkv, const AttentionArgs& args) {
  enqueue([=, this] { CpuBackend::attention_backward_impl(qkv, out, saved, dout, dqkv, args); });
}
void CpuAsyncBackend::embedding_forward_impl(const Tensor& ids, const Tensor& table, const Tensor& out) {
  enqueue([=, this] { CpuBackend::embedding_forward_impl(ids, table, out); });
}
void CpuAsyncBackend::embedding_backward_impl(const Tensor& ids, const Tensor& dout, const Tensor& dtable) {
  enqueue([=, this] { CpuBackend::embedding_backward_impl(ids, dout, dtable); });
}
void CpuAsyncBackend::feature_tokens_forward_impl(const Tensor& x, const Tensor& w, const Tensor& b,
                                                  const Tensor& out) {
  enqueue([=, this] { CpuBackend::feature_tokens_forward_impl(x, w, b, out); });
}
void CpuAsyncBackend::feature_tokens_backward_impl(const Tensor& x, const Tensor& w, const Tensor& dout,
                                                   const Tensor& dx, const Tensor& dw, const Tensor& db) {
  enqueue([=, this] { CpuBackend::feature_tokens_backward_impl(x, w, dout, dx, dw, db); });
}
void CpuAsyncBackend::mean_pool_forward_impl(const Tensor& x, const Tensor& lengths, const Tensor& out) {
  enqueue([=, this] { CpuBackend::mean_pool_forward_impl(x, lengths, out); });
}
void CpuAsyncBackend::mean_pool_backward_impl(const Tensor& dout, const Tensor& lengths, const Tensor& dx) {
  enqueue([=, this] { CpuBackend::mean_pool_backward_impl(dout, lengths, dx); });
}
void CpuAsyncBackend::conv1d_forward_impl(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y,
                                          const Conv1dGeom& g) {
  enqueue([=, this] { CpuBackend::conv1d_forward_impl(x, w, bias, y, g); });
}
void CpuAsyncBackend::conv1d_backward_data_impl(const Tensor& dy, const Tensor& w, const Tensor& bias,
                                                const Tensor& dx, const Conv1dGeom& g) {
  enqueue([=, this] { CpuBackend::conv1d_backward_data_impl(dy, w, bias, dx, g); });
}
void CpuAsyncBackend::conv1d_backward_filter_impl(const Tensor& x, const Tensor& dy, const Tensor& dw,
                                                  const Tensor& dbias, const Conv1dGeom& g) {
  enqueue([=, this] { CpuBackend::conv1d_backward_filter_impl(x, dy, dw, dbias, g); });
}
void CpuAsyncBackend::class_concat_forward_impl(const Tensor& a, std::int64_t classes, bool expand, const Tensor& out) {
  enqueue([=, this] { CpuBackend::class_concat_forward_impl(a, classes, expand, out); });
}
void CpuAsyncBackend::class_concat_backward_impl(const Tensor& dout, std::int64_t classes, bool expand,
                                                 const Tensor& da) {
  enqueue([=, this] { CpuBackend::class_concat_backward_impl(dout, classes, expand, da); });
}
void CpuAsyncBackend::normal_fill_impl(const Tensor& out, std::uint64_t seed, std::uint64_t stream,
                                       const Tensor& row_ids) {
  enqueue([=, this] { CpuBackend::normal_fill_impl(out, seed, stream, row_ids); });
}
void CpuAsyncBackend::reparam_forward_impl(const Tensor& enc, const Tensor& eps, const Tensor& z) {
  enqueue([=, this] { CpuBackend::reparam_forward_impl(enc, eps, z); });
}
void CpuAsyncBackend::reparam_backward_impl(const Tensor& enc, const Tensor& eps, const Tensor& dz,
                                            const Tensor& denc) {
  enqueue([=, this] { CpuBackend::reparam_backward_impl(enc, eps, dz, denc); });
}
void CpuAsyncBackend::ssvae_objective_impl(const Tensor& x, const Tensor& logits, const Tensor& labels,
                                           const Tensor& enc, const Tensor& recon, const SsvaeArgs& ssvae,
                                           const LossArgs& args, const Tensor& acc, const Tensor& dlogits,
                                           const Tensor& denc, const Tensor& drecon) {
  // Ten tensors outgrow Task::kCapacity: the views travel in one small heap block (one per step).
  struct Views {
    Tensor x, logits, labels, enc, recon;
    SsvaeArgs ssvae;
    LossArgs args;
    Tensor acc, dlogits, denc, drecon;
  };
  auto v = std::make_shared<const Views>(Views{x, logits, labels, enc, recon, ssvae, args, acc, dlogits, denc, drecon});
  enqueue([v, this] {
    CpuBackend::ssvae_objective_impl(v->x, v->logits, v->labels, v->enc, v->recon, v->ssvae, v->args, v->acc,
                                     v->dlogits, v->denc, v->drecon);
  });
}
void CpuAsyncBackend::float_loss_impl(FloatLoss kind, const Tensor& pred, const Tensor& target, const Tensor& dpred,
                                      const LossArgs& args, const Tensor& acc) {
  enqueue([=, this] { CpuBackend::float_loss_impl(kind, pred, target, dpred, args, acc); });
}
void CpuAsyncBackend::softmax_ce_loss_impl(const Tensor& logits, const Tensor& labels, const Tensor& dlogits,
                                           const LossArgs& args, const Tensor& acc) {
  enqueue([=, this] { CpuBackend::softmax_ce_loss_impl(logits, labels, dlogits, args, acc); });
}
void CpuAsyncBackend::scale_by_impl(const Tensor& x, const Tensor& factor) {
  enqueue([=, this] { CpuBackend::scale_by_impl(x, factor); });
}
void CpuAsyncBackend::step_control_impl(const StepControlArgs& args, const Tensor& count, const Tensor& sumsq,
                                        const Tensor& loss_scale, const Tensor& control) {
  enqueue([=, this] { CpuBackend::step_control_impl(args, count, sumsq, loss_scale, control); });
}
void CpuAsyncBackend::update_loss_scale_impl(const LossScaleArgs& args, const Tensor& control, const Tensor& state) {
  enqueue([=, this] { CpuBackend::update_loss_scale_impl(args, control, state); });
}
void CpuAsyncBackend::adamw_step_impl(const Tensor& params, const Tensor& master, const Tensor& grads,
                                      const Tensor& m, const Tensor& v, const AdamWParams& hp,
                                      const Tensor& control) {
  enqueue([=, this] { CpuBackend::adamw_step_impl(params, master, grads, m, v, hp, control); });
}
void CpuAsyncBackend::sgd_step_impl(const Tensor& params, const Tensor& master, const Tensor& grads,
                                    const Tensor& momentum_buf, const SgdParams& hp, const Tensor& control) {
  enqueue([=, this] { CpuBackend::sgd_step_impl(params, master, grads, momentum_buf, hp, control); });
}

}  // namespace hpct::kernels
