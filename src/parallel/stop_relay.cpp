#include "parallel/stop_relay.hpp"

#include <mpi.h>

#include <chrono>

#include "parallel/mpi_communicator.hpp"

namespace hpct::dist {

struct StopRelay::Mpi {
  MPI_Comm comm = MPI_COMM_NULL;
};

namespace {
// A round costs one 8-byte allreduce; a stop reaches every group within about a round plus a step.
constexpr auto kRoundEvery = std::chrono::milliseconds(200);
constexpr auto kPoll = std::chrono::milliseconds(10);
}  // namespace

StopRelay::StopRelay(const std::atomic<int>& flag, void (*raise)(int))
    : mpi_(std::make_unique<Mpi>()), flag_(flag), raise_(raise) {
  check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &mpi_->comm), "MPI_Comm_dup (stop relay)");
  thread_ = std::thread([this] { loop(); });
}

StopRelay::~StopRelay() {
  if (thread_.joinable()) {
    abandon_ = true;
    thread_.join();
  }
  // After an abandoned round the communicator may have a request in flight: leave it to MPI_Abort.
  if (!abandon_ && mpi_->comm != MPI_COMM_NULL) MPI_Comm_free(&mpi_->comm);
}

int StopRelay::finish() {
  done_ = true;
  thread_.join();
  return world_signal_.load();
}

void StopRelay::loop() {
  for (;;) {
    // MAX over ranks: the largest signal number seen anywhere, and 1 while any rank still trains.
    int send[2] = {flag_.load(), done_.load() ? 0 : 1};
    int recv[2] = {0, 0};
    MPI_Request request = MPI_REQUEST_NULL;
    if (MPI_Iallreduce(send, recv, 2, MPI_INT, MPI_MAX, mpi_->comm, &request) != MPI_SUCCESS) return;
    for (int complete = 0; !complete;) {
      if (abandon_) return;
      if (MPI_Test(&request, &complete, MPI_STATUS_IGNORE) != MPI_SUCCESS) return;
      if (!complete) std::this_thread::sleep_for(kPoll);
    }
    if (recv[0] != 0) {
      world_signal_ = recv[0];
      if (flag_.load() == 0) raise_(recv[0]);
    }
    if (recv[1] == 0) return;  // every rank has finished: all leave after this same round
    for (auto waited = std::chrono::milliseconds(0); waited < kRoundEvery && !done_ && !abandon_; waited += kPoll)
      std::this_thread::sleep_for(kPoll);
  }
}

}  // namespace hpct::dist
