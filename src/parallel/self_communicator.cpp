#include "parallel/self_communicator.hpp"

#include <cstring>

#include "core/error.hpp"

namespace hpct::dist {
namespace {

struct Done final : Work {
  void wait() override {}
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

Handle SelfCommunicator::allreduce(const Tensor&, ReduceOp) { return done(); }  // the sum or mean of one

Handle SelfCommunicator::broadcast(const Tensor&, int root) {
  HPCT_CHECK(root == 0, "broadcast: root ", root, " outside a communicator of 1");
  return done();
}

Handle SelfCommunicator::allgather(const Tensor& send, const Tensor& recv) {
  copy_block("allgather", send, recv);
  return done();
}

Handle SelfCommunicator::reduce_scatter(const Tensor& send, const Tensor& recv, ReduceOp) {
  copy_block("reduce_scatter", send, recv);
  return done();
}

Handle SelfCommunicator::barrier() { return done(); }

std::unique_ptr<Communicator> SelfCommunicator::split(int color, int) {
  HPCT_CHECK(color >= 0, "split: color must be >= 0, got ", color);
  return std::make_unique<SelfCommunicator>();
}

}  // namespace hpct::dist
