#pragma once
// The communicator of a process that is its own whole world: a run not started by an MPI launcher.
// Every collective over one rank is a copy or nothing, complete at once; no MPI call is made, so a
// plain `hpctrain train` needs no MPI singleton start-up (which forks a daemon and can fail, e.g.
// "Unable to start a daemon on the local node" when many start at once).
#include "parallel/communicator.hpp"

namespace hpct::dist {

class SelfCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  Handle allreduce(const Tensor& buf, ReduceOp op, ReadyEvent ready = nullptr) override;
  Handle broadcast(const Tensor& buf, int root, ReadyEvent ready = nullptr) override;
  Handle allgather(const Tensor& send, const Tensor& recv, ReadyEvent ready = nullptr) override;
  Handle reduce_scatter(const Tensor& send, const Tensor& recv, ReduceOp op, ReadyEvent ready = nullptr) override;
  Handle barrier() override;
  std::unique_ptr<Communicator> split(int color, int key) override;
};

}  // namespace hpct::dist
