#include "parallel/cuda/nccl_communicator.hpp"

#include <chrono>
#include <iostream>
#include <vector>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/trace.hpp"
#include "kernels/cuda/cuda_check.hpp"
#include "kernels/cuda/cuda_stream.hpp"
#include "kernels/cuda/cuda_trace.hpp"
#include "parallel/world.hpp"

namespace hpct::dist {

using Clock = std::chrono::steady_clock;

namespace {

ncclDataType_t nccl_type(DType t) {
  switch (t) {
    case DType::f32: return ncclFloat32;
    case DType::f64: return ncclFloat64;
    case DType::f16: return ncclFloat16;
    case DType::bf16: return ncclBfloat16;
    case DType::i32: return ncclInt32;
    case DType::i64: return ncclInt64;
  }
  fail("NCCL: unsupported dtype ", name_of(t));
}

ncclRedOp_t nccl_op(ReduceOp op) { return op == ReduceOp::sum ? ncclSum : ncclAvg; }

bool on_gpu(const Tensor& t) { return t.device.kind == DeviceKind::cuda; }

}  // namespace

// One collective: its event (recorded on the communicator's stream after it), its name and start.
class NcclWork final : public Work {
 public:
  NcclWork(int device, std::string what) : device_(device), what_(std::move(what)) {
    HPCT_CUDA_CHECK(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming));
  }
  ~NcclWork() override { HPCT_CUDA_WARN(cudaEventDestroy(event_)); }
  // Busy-polls: the watchdog ends the job if the collective never completes.
  void wait_host() override {
    HPCT_CUDA_CHECK(cudaSetDevice(device_));
    while (!done()) std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
  void wait(Stream& s) override { HPCT_CUDA_CHECK(cudaStreamWaitEvent(kernels::cuda::native(s), event_, 0)); }
  bool done() const override {
    const cudaError_t e = cudaEventQuery(event_);
    if (e == cudaErrorNotReady) return false;
    HPCT_CUDA_CHECK(e);
    return true;
  }
  cudaEvent_t event() const { return event_; }
  const std::string& what() const { return what_; }
  Clock::time_point start = Clock::now();

 private:
  int device_;
  cudaEvent_t event_ = nullptr;
  std::string what_;
};

// Gradients in registered memory: ncclMemAlloc'd (the cuMem allocation NCCL's zero-copy paths need)
// and registered with the communicator, which must outlive this.
class NcclRegisteredBuffer final : public ReductionBuffer {
 public:
  NcclRegisteredBuffer(ncclComm_t comm, int device, std::int64_t elements, DType dtype) : comm_(comm) {
    t_ = Tensor(nullptr, Shape{elements}, dtype, Device{DeviceKind::cuda, device});
    HPCT_CUDA_CHECK(cudaSetDevice(device));
    HPCT_NCCL_CHECK(ncclMemAlloc(&t_.data, t_.bytes()));
    const ncclResult_t r = ncclCommRegister(comm_, t_.data, t_.bytes(), &handle_);
    if (r != ncclSuccess) {
      (void)ncclMemFree(t_.data);
      fail("NCCL: ncclCommRegister of the ", t_.bytes(), "-byte gradient buffer failed: ", ncclGetErrorString(r),
           " (--ddp.zero-copy false does without registration, silently)");
    }
  }
  ~NcclRegisteredBuffer() override {
    // The callers synchronized before letting go of the gradients (Ddp's destructor).
    const ncclResult_t d = ncclCommDeregister(comm_, handle_);
    const ncclResult_t f = ncclMemFree(t_.data);
    if (d != ncclSuccess || f != ncclSuccess)
      std::cerr << "hpctrain: NCCL: releasing the registered gradient buffer: "
                << ncclGetErrorString(d != ncclSuccess ? d : f) << "\n";
  }
  NcclRegisteredBuffer(const NcclRegisteredBuffer&) = delete;
  NcclRegisteredBuffer& operator=(const NcclRegisteredBuffer&) = delete;
  Tensor tensor() const override { return t_; }

 private:
  ncclComm_t comm_;
  Tensor t_;
  void* handle_ = nullptr;
};

NcclCommunicator::NcclCommunicator(std::unique_ptr<Communicator> host, int world_rank)
    : host_(std::move(host)), world_rank_(world_rank) {
  set_timeout(host_->timeout());
  HPCT_CUDA_CHECK(cudaGetDevice(&device_));
  ncclUniqueId id{};
  static_assert(sizeof(id) % sizeof(std::int64_t) == 0);
  if (host_->rank() == 0) HPCT_NCCL_CHECK(ncclGetUniqueId(&id));
  host_->broadcast(Tensor(&id, Shape{static_cast<std::int64_t>(sizeof(id) / 8)}, DType::i64), 0)->wait_host();
  HPCT_NCCL_CHECK(ncclCommInitRank(&comm_, host_->size(), id, host_->rank()));
  HPCT_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  watchdog_ = std::thread([this] { watch(); });
}

NcclCommunicator::~NcclCommunicator() {
  // The watchdog stays up while the stream drains, so a collective a dead peer never joins still
  // ends the job after the timeout instead of hanging here.
  HPCT_CUDA_WARN(cudaStreamSynchronize(stream_));
  {
    const std::lock_guard lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  watchdog_.join();
  timeline_.reset();  // emits the traced collectives, all complete now
  const ncclResult_t r = ncclCommDestroy(comm_);
  if (r != ncclSuccess) std::cerr << "rank " << world_rank_ << ": ncclCommDestroy: " << ncclGetErrorString(r) << "\n";
  HPCT_CUDA_WARN(cudaStreamDestroy(stream_));
}

template <class Op>
Handle NcclCommunicator::launch(std::string what, const ReadyEvent& ready, Op&& op) {
  auto work = std::make_shared<NcclWork>(device_, "NCCL " + what + " (collective #" + std::to_string(seq_++) + ")");
  if (ready) {
    auto* ev = dynamic_cast<kernels::cuda::CudaEvent*>(ready.get());
    HPCT_CHECK(ev != nullptr, "NCCL ", what, ": the ready event is not a CUDA event");
    HPCT_CUDA_CHECK(cudaStreamWaitEvent(stream_, ev->handle(), 0));
  }
  const bool traced = trace::enabled();
  if (traced) {
    if (!timeline_) timeline_ = std::make_unique<kernels::cuda::CudaTimeline>(device_);
    timeline_->begin(stream_);
  }
  const ncclResult_t r = op();
  if (traced) timeline_->end(stream_, cat("cuda:", device_, " NCCL stream"), what, "comm");
  HPCT_CHECK(r == ncclSuccess, "rank ", world_rank_, ": ", work->what(), " failed: ", ncclGetErrorString(r), " (",
             ncclGetLastError(comm_), ")");
  HPCT_CUDA_CHECK(cudaEventRecord(work->event(), stream_));
  {
    const std::lock_guard lock(mutex_);
    pending_.push_back(work);
  }
  return work;
}

Handle NcclCommunicator::allreduce(const Tensor& buf, ReduceOp op, ReadyEvent ready) {
  if (!on_gpu(buf)) return host_->allreduce(buf, op, std::move(ready));
  return launch(cat("allreduce of ", buf.numel(), " ", name_of(buf.dtype)), ready, [&] {
    return ncclAllReduce(buf.data, buf.data, static_cast<std::size_t>(buf.numel()), nccl_type(buf.dtype),
                         nccl_op(op), comm_, stream_);
  });
}

Handle NcclCommunicator::broadcast(const Tensor& buf, int root, ReadyEvent ready) {
  if (!on_gpu(buf)) return host_->broadcast(buf, root, std::move(ready));
  return launch(cat("broadcast of ", buf.numel(), " ", name_of(buf.dtype), " from ", root), ready, [&] {
    return ncclBroadcast(buf.data, buf.data, static_cast<std::size_t>(buf.numel()), nccl_type(buf.dtype), root,
                         comm_, stream_);
  });
}

Handle NcclCommunicator::allgather(const Tensor& send, const Tensor& recv, ReadyEvent ready) {
  if (!on_gpu(send)) return host_->allgather(send, recv, std::move(ready));
  HPCT_CHECK(on_gpu(recv) && recv.dtype == send.dtype && recv.numel() == send.numel() * size(),
             "NCCL allgather: recv must be ", size(), " x send's ", send.numel(), " ", name_of(send.dtype),
             " on the GPU");
  // In place (send is this rank's block of recv, as ZeRO gathers parameters): NCCL allows it.
  return launch(cat("allgather of ", send.numel(), " ", name_of(send.dtype)), ready, [&] {
    return ncclAllGather(send.data, recv.data, static_cast<std::size_t>(send.numel()), nccl_type(send.dtype), comm_,
                         stream_);
  });
}

Handle NcclCommunicator::reduce_scatter(const Tensor& send, const Tensor& recv, ReduceOp op, ReadyEvent ready) {
  if (!on_gpu(send)) return host_->reduce_scatter(send, recv, op, std::move(ready));
  HPCT_CHECK(on_gpu(recv) && recv.dtype == send.dtype && send.numel() == recv.numel() * size(),
             "NCCL reduce_scatter: send must be ", size(), " x recv's ", recv.numel(), " ", name_of(recv.dtype),
             " on the GPU");
  return launch(cat("reduce_scatter of ", send.numel(), " ", name_of(send.dtype)), ready, [&] {
    return ncclReduceScatter(send.data, recv.data, static_cast<std::size_t>(recv.numel()), nccl_type(send.dtype),
                             nccl_op(op), comm_, stream_);
  });
}

// Registration is local to each rank, but NCCL leaves a collective undefined when some ranks pass
// registered buffers and others do not. So where NCCL cannot give or register the memory on some rank
// (a driver without cuMem support, memory short by the registration's granularity) that rank says so,
// the ranks agree over the host communicator, and all reduce the backend's own memory (registered
// memory is only faster).
std::unique_ptr<ReductionBuffer> NcclCommunicator::make_reduction_buffer(std::int64_t elements, DType dtype,
                                                                          bool wanted) {
  if (!wanted || elements == 0) return nullptr;  // the same on every rank (Ddp decides collectively)
  std::unique_ptr<ReductionBuffer> buffer;
  try {
    buffer = std::make_unique<NcclRegisteredBuffer>(comm_, device_, elements, dtype);
  } catch (const Error& e) {
    log::warn(cat("rank ", world_rank_, ": gradients stay in unregistered memory: ", e.what()));
  }
  std::int64_t failed = buffer ? 0 : 1;
  std::vector<std::int64_t> all(static_cast<std::size_t>(host_->size()));
  host_->allgather(Tensor(&failed, Shape{1}, DType::i64), Tensor(all.data(), Shape{host_->size()}, DType::i64))
      ->wait_host();
  for (const std::int64_t f : all)
    if (f) return nullptr;  // some rank could not register: every rank lets its buffer go
  return buffer;
}

std::unique_ptr<Communicator> NcclCommunicator::split(int color, int key) {
  std::unique_ptr<Communicator> sub = host_->split(color, key);
  sub->set_timeout(timeout());  // the new communicator's watchdog takes it from there
  return std::make_unique<NcclCommunicator>(std::move(sub), world_rank_);
}

void NcclCommunicator::abort_job(const std::string& what, const std::string& why) {
  ncclCommAbort(comm_);  // unblocks the other collectives of this rank; the job ends next anyway
  World::abort(cat("rank ", world_rank_, ": ", what, " ", why));
}

// Every 100 ms: drop completed collectives, then check the oldest one's age and NCCL's async error.
void NcclCommunicator::watch() {
  const cudaError_t e = cudaSetDevice(device_);
  if (e != cudaSuccess) abort_job("NCCL watchdog", cat("cannot select GPU ", device_, ": ", cudaGetErrorString(e)));
  std::unique_lock lock(mutex_);
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::milliseconds(100));
    while (!pending_.empty()) {
      const cudaError_t q = cudaEventQuery(pending_.front()->event());
      if (q == cudaErrorNotReady) break;
      if (q != cudaSuccess) abort_job(pending_.front()->what(), cat("failed: CUDA error ", cudaGetErrorString(q)));
      pending_.pop_front();
    }
    ncclResult_t async = ncclSuccess;
    const ncclResult_t r = ncclCommGetAsyncError(comm_, &async);
    const std::string current = pending_.empty() ? std::string("NCCL (idle)") : pending_.front()->what();
    if (r != ncclSuccess || (async != ncclSuccess && async != ncclInProgress))
      abort_job(current, cat("failed: ", ncclGetErrorString(r != ncclSuccess ? r : async), " (", ncclGetLastError(comm_),
                        ")"));
    if (!pending_.empty() && Clock::now() - pending_.front()->start > timeout())
      abort_job(current, cat("did not complete within ", timeout().count() / 1000.0,
                        " s (--dist.timeout-s): a peer died, hangs or is stuck"));
  }
}

}  // namespace hpct::dist
