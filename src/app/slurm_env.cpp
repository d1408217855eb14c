#include "app/slurm_env.hpp"

#include <sys/wait.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <sstream>
#include <utility>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/log.hpp"

namespace hpct::app {
namespace {

constexpr const char* kVariables[] = {"SLURM_JOB_ID",          "SLURM_ARRAY_JOB_ID",   "SLURM_ARRAY_TASK_ID",
                                      "SLURM_JOB_NUM_NODES",   "SLURM_NTASKS_PER_NODE", "SLURM_TASKS_PER_NODE",
                                      "SLURM_GPUS_PER_NODE",   "SLURM_GPUS_PER_TASK",   "SLURM_CPUS_PER_TASK"};

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// A whole positive number, else 0 (unset, empty, not a number).
long positive(const std::string& text) {
  char* end = nullptr;
  const long v = std::strtol(text.c_str(), &end, 10);
  return !text.empty() && *end == '\0' && v > 0 ? v : 0;
}

}  // namespace

std::string slurm_description() {
  const std::string job = env("SLURM_JOB_ID");
  if (job.empty()) return "";
  std::ostringstream os;
  os << "slurm: job " << job;
  if (const std::string task = env("SLURM_ARRAY_TASK_ID"); !task.empty())
    os << " (array " << env("SLURM_ARRAY_JOB_ID") << " task " << task << ")";
  // Under mpirun inside a job, the ranks see the SLURM variables of mpirun's own job step (one daemon
  // per node), so Open MPI's count of ranks per node comes first. SLURM_NTASKS_PER_NODE exists only
  // when the job asked for it; SLURM_TASKS_PER_NODE always (e.g. "4(x2)": 4 on each of 2 nodes).
  std::string per_node = env("OMPI_COMM_WORLD_LOCAL_SIZE");
  for (const char* name : {"SLURM_NTASKS_PER_NODE", "SLURM_TASKS_PER_NODE"})
    if (per_node.empty()) per_node = env(name);
  for (const auto& [value, what] : {std::pair{env("SLURM_JOB_NUM_NODES"), " node(s)"},
                                    std::pair{per_node, " task(s) per node"},
                                    std::pair{env("SLURM_GPUS_PER_NODE"), " GPU(s) per node"},
                                    std::pair{env("SLURM_GPUS_PER_TASK"), " GPU(s) per task"},
                                    std::pair{env("SLURM_CPUS_PER_TASK"), " CPU(s) per task"}})
    if (!value.empty()) os << ", " << value << what;
  return os.str();
}

std::string slurm_threads_warning(int threads) {
  const long cpus = positive(env("SLURM_CPUS_PER_TASK"));
  if (cpus <= 0 || threads <= cpus) return "";
  return cat(threads, " threads per rank but SLURM_CPUS_PER_TASK=", cpus,
             ": the ranks will share cores; set OMP_NUM_THREADS=$SLURM_CPUS_PER_TASK (or --threads ", cpus,
             ") or ask for --cpus-per-task=", threads);
}

std::string slurm_launch_warning(int world_size) {
  const long tasks = positive(env("SLURM_STEP_NUM_TASKS"));
  if (tasks <= 1 || world_size != 1) return "";
  return cat("srun started ", tasks, " tasks but this one is an MPI world of 1, training alone: launch "
             "with srun --mpi=pmix (or mpirun)");
}

void report_slurm_job(const std::string& run_dir, int threads, int world_size, bool writer) {
  const std::string description = slurm_description();
  if (description.empty()) return;
  log::info(description);
  if (!writer) return;
  for (const std::string& warning : {slurm_launch_warning(world_size), slurm_threads_warning(threads)})
    if (!warning.empty()) log::warn(warning);
  std::string text = description + "\n";
  for (const char* name : kVariables)
    if (const char* v = std::getenv(name)) text += cat(name, "=", v, "\n");
  write_text_atomic((std::filesystem::path(run_dir) / "slurm.txt").string(), text);
}

void requeue_slurm_job() {
  const char* job = std::getenv("SLURM_JOB_ID");
  if (!job || !*job) {
    log::warn("--requeue: not a SLURM job (SLURM_JOB_ID unset), nothing requeued");
    return;
  }
  for (const char* c = job; *c; ++c)
    if (*c < '0' || *c > '9') {
      log::warn(cat("--requeue: SLURM_JOB_ID '", job, "' is not a job id, nothing requeued"));
      return;
    }
  const std::string command = cat("scontrol requeue ", job);
  const int rc = std::system(command.c_str());
  // The requeue ends the job's processes with SIGTERM, scontrol among them: that is success too.
  if (rc == 0 || (WIFSIGNALED(rc) && WTERMSIG(rc) == SIGTERM))
    log::warn(cat("requeued SLURM job ", job, " (", command, "); the next run continues with --resume auto"));
  else
    log::warn(cat("--requeue: '", command, "' failed (status ", rc, "); the checkpoint is written, requeue by hand"));
}

}  // namespace hpct::app
