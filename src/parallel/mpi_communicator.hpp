#pragma once
// Communicator over MPI on host buffers. One communication thread per communicator performs the
// MPI calls in issue order, so a collective makes progress while the caller computes (backward
// overlapping the gradient allreduce) without relying on MPI's asynchronous progress. A waiter may
// run a shared-window allreduce itself when it is next in line (see try_run_inline).
#include <mpi.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "parallel/communicator.hpp"
#include "parallel/shm_window.hpp"

namespace hpct::dist {

class MpiCommunicator final : public Communicator {
 public:
  // Takes ownership of comm (freed on destruction). world_rank names this process in messages.
  MpiCommunicator(MPI_Comm comm, int world_rank);
  ~MpiCommunicator() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  Handle allreduce(const Tensor& buf, ReduceOp op, ReadyEvent ready = nullptr) override;
  Handle broadcast(const Tensor& buf, int root, ReadyEvent ready = nullptr) override;
  Handle allgather(const Tensor& send, const Tensor& recv, ReadyEvent ready = nullptr) override;
  Handle reduce_scatter(const Tensor& send, const Tensor& recv, ReduceOp op, ReadyEvent ready = nullptr) override;
  Handle barrier() override;
  std::unique_ptr<Communicator> split(int color, int key) override;
  // A shared-memory window when every rank is on one node, asked for it, and the communicator has
  // more than one rank, else nullptr.
  std::unique_ptr<ReductionBuffer> make_reduction_buffer(std::int64_t elements, DType dtype, bool wanted) override;
  // Records an error a waiter met, so that an abort from the destructor can name it.
  void note_error(const std::string& msg);

 private:
  struct Task;
  class SharedBuffer;
  Handle enqueue(std::string what, std::function<void()> op, bool may_run_inline = false);
  void loop();
  void try_run_inline(Task& task);
  // The live shared window that holds buf on this rank (the same range on every rank, by the collective
  // discipline), and buf's byte offset in it; window nullptr when none. A node-aware window (across
  // nodes) only with node_aware: allgather and reduce_scatter do not use those, a node-aware
  // reduce-scatter would need blocks laid out by node (they go to the flat MPI collective instead: the
  // window is ordinary memory to MPI).
  struct InWindow {
    ShmWindow* window = nullptr;
    std::size_t offset = 0;
  };
  InWindow window_of(const Tensor& buf, bool node_aware);

  MPI_Comm comm_;
  int rank_ = 0, size_ = 1, world_rank_ = 0;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Task>> queue_;
  bool stop_ = false;
  bool busy_ = false;  // an operation is running (on the communication thread or a waiter)
  std::string running_;     // the operation running or last run (under mutex_)
  std::string last_error_;  // the last timeout a waiter met (under mutex_), for the abort message

  std::thread thread_;
  std::vector<ShmWindow*> windows_;  // live shared buffers, for allreduce to recognise (under mutex_)
};

// Throws hpct::Error naming the operation and MPI's error string when rc is not MPI_SUCCESS.
void check_mpi(int rc, const std::string& what);

}  // namespace hpct::dist
