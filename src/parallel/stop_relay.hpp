#pragma once
// Spreads a stop signal over the whole MPI world while its groups train independently (ensembles,
// several models at once). Inside a group the trainer's per-step vote makes the group's ranks stop at
// one step; across groups there is no common step, so a signal that reached only some groups' ranks
// would let the other groups train on for hours. The relay's thread runs small rounds of a
// non-blocking MPI_Iallreduce (MAX of {this rank's signal, "still training"}) on its own duplicate of
// MPI_COMM_WORLD, polled with MPI_Test and sleeps (never spinning on a core), and raises a peer's
// signal in this process's stop flag, where the group's vote picks it up at the next step. Rounds go
// on until every rank has finished, so each rank takes part in the same number of them.
#include <atomic>
#include <memory>
#include <thread>

namespace hpct::dist {

class StopRelay {
 public:
  // Collective over MPI_COMM_WORLD (it duplicates it). flag: this process's stop flag (0 or a signal);
  // raise(sig) stores a peer's signal in it.
  StopRelay(const std::atomic<int>& flag, void (*raise)(int));
  // Without finish() (an error unwinding) the thread leaves at its next poll: the job is aborting.
  ~StopRelay();
  StopRelay(const StopRelay&) = delete;
  StopRelay& operator=(const StopRelay&) = delete;

  // This rank trains nothing more: take part in rounds until every rank has said so. Returns the
  // world's signal (0: none reached any rank).
  int finish();

 private:
  void loop();

  struct Mpi;
  std::unique_ptr<Mpi> mpi_;
  const std::atomic<int>& flag_;
  void (*raise_)(int);
  std::atomic<bool> done_{false}, abandon_{false};
  std::atomic<int> world_signal_{0};
  std::thread thread_;
};

}  // namespace hpct::dist
