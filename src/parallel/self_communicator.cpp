#include "parallel/self_communicator.hpp"

#include <cstring>

#include "core/error.hpp"

namespace hpct::dist {
namespace {

struct Done final : Work {
  void wait_host() override {}
  void wait(Stream&) override {}
  bool done() const override { return true; }
};

Handle done() { return std::make_shared<Done>(); }

// recv = send, the one rank's block.
void copy_block(const char* what, const Tensor& send, const Tensor& recv) {
  HPCT_CHECK(recv.numel() == send.numel() && recv.dtype == send.dtype, what, ": recv has ", recv.numel(), " ",
             name_of(recv.dtype), ", expected ", send.numel(), " ", name_of(send.dtype));
  if (recv.data != send.data) std::memcpy(recv.data, send.data, send.bytes());
}

}  // namespace

// The sum or mean over one rank is the buffer itself: nothing to wait for.
Handle SelfCommunicator::allreduce(const Tensor&, ReduceOp, ReadyEvent) { return done(); }

Handle SelfCommunicator::broadcast(const Tensor&, int root, ReadyEvent) {
  HPCT_CHECK(root == 0, "broadcast: root ", root, " outside a communicator of 1");
  return done();
}

Handle SelfCommunicator::allgather(const Tensor& send, const Tensor& recv, ReadyEvent ready) {
  if (ready && !ready->query()) ready->synchronize();
  copy_block("allgather", send, recv);
  return done();
}

Handle SelfCommunicator::reduce_scatter(const Tensor& send, const Tensor& recv, ReduceOp, ReadyEvent ready) {
  if (ready && !ready->query()) ready->synchronize();
  copy_block("reduce_scatter", send, recv);
  return done();
}

Handle SelfCommunicator::barrier() { return done(); }

std::unique_ptr<Communicator> SelfCommunicator::split(int color, int) {
  HPCT_CHECK(color >= 0, "split: color must be >= 0, got ", color);
  return std::make_unique<SelfCommunicator>();
}

}  // namespace hpct::dist
