#pragma once
// Collectives on CUDA memory over NCCL, one communicator per group of ranks (one GPU per rank).
// Bootstrap: rank 0 of the host communicator calls ncclGetUniqueId and broadcasts it over MPI; every
// rank calls ncclCommInitRank on its current CUDA device. The collectives run on a stream of their own,
// after the event a caller passes (`ready`: the bucket's gradients are written), and a consumer's
// stream waits on the collective's event, so the host never waits. Host-memory buffers (evaluation
// sums, signals), barrier and split go to the host communicator; split bootstraps a new NCCL
// communicator on the host sub-communicator.
//
// Registration: make_reduction_buffer gives the flat gradient buffer in ncclMemAlloc memory registered
// with the communicator (ncclCommRegister), which NCCL reduces without copying it through its own
// buffers where the transport allows (NVLink/NVLS, CollNet, IPC peers); deregistered and freed when the
// buffer goes. With --trace each collective is also timed on the communicator's stream (a device track).
//
// Failure: a watchdog thread polls ncclCommGetAsyncError and the oldest unfinished collective; an
// asynchronous error, or a collective older than timeout(), aborts the NCCL communicator
// (ncclCommAbort) and the job (World::abort), naming the rank, the operation and its sequence number
// (the buckets are issued in a fixed order, so the number names the bucket).
#include <nccl.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "parallel/communicator.hpp"

namespace hpct::kernels::cuda {
class CudaTimeline;
}

namespace hpct::dist {

class NcclWork;

class NcclCommunicator final : public Communicator {
 public:
  // Collective over host's ranks. world_rank names this process in messages.
  NcclCommunicator(std::unique_ptr<Communicator> host, int world_rank);
  ~NcclCommunicator() override;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return host_->rank(); }
  int size() const override { return host_->size(); }
  Handle allreduce(const Tensor& buf, ReduceOp op, ReadyEvent ready = nullptr) override;
  Handle broadcast(const Tensor& buf, int root, ReadyEvent ready = nullptr) override;
  Handle allgather(const Tensor& send, const Tensor& recv, ReadyEvent ready = nullptr) override;
  Handle reduce_scatter(const Tensor& send, const Tensor& recv, ReduceOp op, ReadyEvent ready = nullptr) override;
  Handle barrier() override { return host_->barrier(); }
  std::unique_ptr<ReductionBuffer> make_reduction_buffer(std::int64_t elements, DType dtype,
                                                         bool wanted = true) override;
  bool reduction_buffer_on_device() const override { return true; }
  std::unique_ptr<Communicator> split(int color, int key) override;

 private:
  // Enqueues op on stream_ after ready, records the Work's event and hands it to the watchdog.
  template <class Op>
  Handle launch(std::string what, const ReadyEvent& ready, Op&& op);
  void watch();
  [[noreturn]] void abort_job(const std::string& what, const std::string& why);

  std::unique_ptr<Communicator> host_;
  int world_rank_ = 0, device_ = 0;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  std::uint64_t seq_ = 0;
  std::unique_ptr<kernels::cuda::CudaTimeline> timeline_;  // made by the first traced collective

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<NcclWork>> pending_;  // issue order (under mutex_)
  bool stop_ = false;
  std::thread watchdog_;
};

}  // namespace hpct::dist
