#include "app/slurm_env.hpp"

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
                                      "SLURM_GPUS_PER_TASK",   "SLURM_CPUS_PER_TASK"};

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

}  // namespace

std::string slurm_description() {
  const std::string job = env("SLURM_JOB_ID");
  if (job.empty()) return "";
  std::ostringstream os;
  os << "slurm: job " << job;
  if (const std::string task = env("SLURM_ARRAY_TASK_ID"); !task.empty())
    os << " (array " << env("SLURM_ARRAY_JOB_ID") << " task " << task << ")";
  // SLURM_NTASKS_PER_NODE exists only when the job asked for it; SLURM_TASKS_PER_NODE always
  // (e.g. "4(x2)": 4 on each of 2 nodes).
  std::string per_node = env("SLURM_NTASKS_PER_NODE");
  if (per_node.empty()) per_node = env("SLURM_TASKS_PER_NODE");
  for (const auto& [value, what] : {std::pair{env("SLURM_JOB_NUM_NODES"), " node(s)"},
                                    std::pair{per_node, " task(s) per node"},
                                    std::pair{env("SLURM_GPUS_PER_TASK"), " GPU(s) per task"},
                                    std::pair{env("SLURM_CPUS_PER_TASK"), " CPU(s) per task"}})
    if (!value.empty()) os << ", " << value << what;
  return os.str();
}

std::string slurm_threads_warning(int threads) {
  const std::string cpus_text = env("SLURM_CPUS_PER_TASK");
  char* end = nullptr;
  const long cpus = std::strtol(cpus_text.c_str(), &end, 10);
  if (cpus_text.empty() || *end != '\0' || cpus <= 0 || threads <= cpus) return "";
  return cat("warning: ", threads, " threads per rank but SLURM_CPUS_PER_TASK=", cpus,
             ": the ranks will share cores; set OMP_NUM_THREADS=$SLURM_CPUS_PER_TASK (or --threads ", cpus,
             ") or ask for --cpus-per-task=", threads);
}

void report_slurm_job(const std::string& run_dir, int threads, bool writer) {
  const std::string description = slurm_description();
  if (description.empty()) return;
  log::info(description);
  if (!writer) return;
  if (const std::string warning = slurm_threads_warning(threads); !warning.empty()) log::warn(warning);
  std::string text = description + "\n";
  for (const char* name : kVariables)
    if (const char* v = std::getenv(name)) text += cat(name, "=", v, "\n");
  write_text_atomic((std::filesystem::path(run_dir) / "slurm.txt").string(), text);
}

}  // namespace hpct::app
