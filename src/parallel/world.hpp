#pragma once
// The MPI world of this process: initialised once (World::init), finalised at exit. Rank, size,
// the node layout (local rank from MPI_Comm_split_type(MPI_COMM_TYPE_SHARED), cross-checked with the
// launcher's OMPI_COMM_WORLD_LOCAL_RANK / SLURM_LOCALID when present) and the world communicator.
#include <memory>
#include <string>

#include "parallel/communicator.hpp"

namespace hpct::dist {

struct Topology {
  int rank = 0, size = 1;
  int local_rank = 0, local_size = 1;  // on this node
  int nodes = 1;
};

// Whether an MPI launcher started this process (Open MPI's mpirun, PMI / PMIx as srun and MPICH's
// hydra set its variables).
bool launched_by_mpi();

class World {
 public:
  // Without an MPI launcher (no OMPI_COMM_WORLD_SIZE, PMIX_RANK, PMI_RANK, ...), the process is a
  // world of one with a SelfCommunicator and MPI is never started. Otherwise it initialises MPI with
  // MPI_THREAD_MULTIPLE (each communicator's thread makes its MPI calls, and
  // several communicators run at once) and builds the world communicator. Throws if MPI cannot give
  // that thread level.
  static World& init(int* argc, char*** argv);
  static World& get();  // after init
  static bool active();  // init has run (and the world is not finalised)
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  const Topology& topology() const { return topo_; }
  int rank() const { return topo_.rank; }
  int size() const { return topo_.size; }
  Communicator& comm() { return *comm_; }
  // Ends every rank of the job now, with the message on stderr of this rank (see DESIGN: a
  // distributed failure aborts every rank with a message saying which rank and why).
  [[noreturn]] static void abort(const std::string& message, int code = 1);

 private:
  World(int* argc, char*** argv);
  Topology topo_;
  std::unique_ptr<Communicator> comm_;
  bool mpi_ = false;  // MPI was started (an MPI launcher started this process)
};

}  // namespace hpct::dist
