#include "parallel/world.hpp"

#include <cstdlib>
#include <initializer_list>
#include <iostream>

#include "core/error.hpp"
#include "core/log.hpp"
#include "parallel/init_watchdog.hpp"
#include "parallel/mpi_communicator.hpp"
#include "parallel/self_communicator.hpp"

namespace hpct::dist {
namespace {

World* g_world = nullptr;

int env_int(const char* name, int fallback) {
  const char* s = std::getenv(name);
  return s ? std::atoi(s) : fallback;
}

}  // namespace

World& World::init(int* argc, char*** argv) {
  HPCT_CHECK(!g_world, "MPI world initialised twice");
  static World world(argc, argv);
  g_world = &world;
  return world;
}

bool World::active() { return g_world != nullptr; }

World& World::get() {
  HPCT_CHECK(g_world, "MPI world used before World::init");
  return *g_world;
}

// Whether an MPI launcher started this process (Open MPI's mpirun, PMI / PMIx as srun and MPICH's
// hydra set them). Without one the process is its own world and MPI is not started at all.
bool launched_by_mpi() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "MPI_LOCALNRANKS"})
    if (std::getenv(var)) return true;
  return false;
}

World::World(int* argc, char*** argv) {
  if (!launched_by_mpi()) {  // topo_ stays one rank on one node
    comm_ = std::make_unique<SelfCommunicator>();
    return;
  }
  mpi_ = true;
  const InitWatchdog watchdog;  // until the collective start-up below has completed
  int provided = 0;
  check_mpi(MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided), "MPI_Init_thread");
  // Each communicator has its own communication thread, so MPI calls may come from several threads.
  HPCT_CHECK(provided >= MPI_THREAD_MULTIPLE, "this MPI library does not support MPI_THREAD_MULTIPLE");
  MPI_Comm world_copy = MPI_COMM_NULL;
  check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &world_copy), "MPI_Comm_dup");
  check_mpi(MPI_Comm_rank(world_copy, &topo_.rank), "MPI_Comm_rank");
  check_mpi(MPI_Comm_size(world_copy, &topo_.size), "MPI_Comm_size");

  // Ranks sharing memory are on one node; the node leaders count the nodes.
  MPI_Comm node = MPI_COMM_NULL;
  check_mpi(MPI_Comm_split_type(world_copy, MPI_COMM_TYPE_SHARED, topo_.rank, MPI_INFO_NULL, &node),
            "MPI_Comm_split_type");
  check_mpi(MPI_Comm_rank(node, &topo_.local_rank), "MPI_Comm_rank");
  check_mpi(MPI_Comm_size(node, &topo_.local_size), "MPI_Comm_size");
  MPI_Comm_free(&node);
  int leader = topo_.local_rank == 0 ? 1 : 0;
  check_mpi(MPI_Allreduce(&leader, &topo_.nodes, 1, MPI_INT, MPI_SUM, world_copy), "MPI_Allreduce");

  // The launcher's view, where there is one, must agree (CLUSTER-LAB.md: under mpirun in a SLURM job
  // SLURM_LOCALID is the launcher's, so OMPI's variable is preferred).
  const int launcher_local = env_int("OMPI_COMM_WORLD_LOCAL_RANK", env_int("SLURM_LOCALID", -1));
  if (launcher_local >= 0 && launcher_local != topo_.local_rank)
    log::warn(cat("rank ", topo_.rank, ": MPI says local rank ", topo_.local_rank, " but the launcher says ",
                  launcher_local, "; using MPI's"));
  log::settings().prefix = cat("rank ", topo_.rank, ": ");
  comm_ = std::make_unique<MpiCommunicator>(world_copy, topo_.rank);
}

World::~World() {
  comm_.reset();  // joins the communication thread before MPI goes away
  g_world = nullptr;
  if (!mpi_) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

void World::abort(const std::string& message, int code) {
  log::error_line(message);
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

}  // namespace hpct::dist
