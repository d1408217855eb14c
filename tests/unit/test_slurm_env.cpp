// The SLURM job description of the train banner and RUN/slurm.txt, and the threads warning, from
// the environment as SLURM sets it (setenv/unsetenv; every variable is restored afterwards).
#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

#include "app/slurm_env.hpp"
#include "test_support.hpp"

using namespace hpct;

namespace {

// Unsets the SLURM variables (and Open MPI's ranks per node), sets the given ones for one test, and puts the old values back.
class SlurmEnv {
 public:
  explicit SlurmEnv(std::initializer_list<std::pair<std::string, std::string>> vars) {
    for (const char* name : {"SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_JOB_NUM_NODES",
                             "SLURM_NTASKS_PER_NODE", "SLURM_TASKS_PER_NODE", "SLURM_GPUS_PER_NODE",
                             "SLURM_GPUS_PER_TASK", "SLURM_CPUS_PER_TASK", "SLURM_STEP_NUM_TASKS",
                             "OMPI_COMM_WORLD_LOCAL_SIZE"}) {
      const char* v = std::getenv(name);
      saved_[name] = v ? std::optional<std::string>(v) : std::nullopt;
      unsetenv(name);
    }
    for (const auto& [name, value] : vars) setenv(name.c_str(), value.c_str(), 1);
  }
  ~SlurmEnv() {
    for (const auto& [name, value] : saved_) {
      if (value)
        setenv(name.c_str(), value->c_str(), 1);
      else
        unsetenv(name.c_str());
    }
  }
  SlurmEnv(const SlurmEnv&) = delete;
  SlurmEnv& operator=(const SlurmEnv&) = delete;

 private:
  std::map<std::string, std::optional<std::string>> saved_;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("slurm_description: empty outside SLURM, every part under it") {
  {
    SlurmEnv env({});
    CHECK(app::slurm_description().empty());
  }
  {
    // Variables without SLURM_JOB_ID (left over in a login shell) do not make a job.
    SlurmEnv env({{"SLURM_CPUS_PER_TASK", "4"}});
    CHECK(app::slurm_description().empty());
  }
  {
    SlurmEnv env({{"SLURM_JOB_ID", "1234"}, {"SLURM_JOB_NUM_NODES", "2"}, {"SLURM_NTASKS_PER_NODE", "4"},
                  {"SLURM_TASKS_PER_NODE", "4(x2)"}, {"SLURM_GPUS_PER_TASK", "1"}, {"SLURM_CPUS_PER_TASK", "8"}});
    CHECK(app::slurm_description() ==
          "slurm: job 1234, 2 node(s), 4 task(s) per node, 1 GPU(s) per task, 8 CPU(s) per task");
  }
  {
    // An array task; no --ntasks-per-node (SLURM_TASKS_PER_NODE instead), no GPUs, no -c.
    SlurmEnv env({{"SLURM_JOB_ID", "1235"}, {"SLURM_ARRAY_JOB_ID", "1230"}, {"SLURM_ARRAY_TASK_ID", "5"},
                  {"SLURM_JOB_NUM_NODES", "1"}, {"SLURM_TASKS_PER_NODE", "1"}});
    CHECK(app::slurm_description() == "slurm: job 1235 (array 1230 task 5), 1 node(s), 1 task(s) per node");
  }
  {
    // Under mpirun in a job: SLURM's variables are those of mpirun's daemon step (1 per node).
    SlurmEnv env({{"SLURM_JOB_ID", "9"}, {"SLURM_JOB_NUM_NODES", "1"}, {"SLURM_NTASKS_PER_NODE", "1"},
                  {"SLURM_TASKS_PER_NODE", "1"}, {"SLURM_GPUS_PER_NODE", "4"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "4"}});
    CHECK(app::slurm_description() == "slurm: job 9, 1 node(s), 4 task(s) per node, 4 GPU(s) per node");
  }
}

TEST_CASE("slurm_threads_warning: only when the threads exceed SLURM_CPUS_PER_TASK") {
  {
    SlurmEnv env({{"SLURM_JOB_ID", "7"}, {"SLURM_CPUS_PER_TASK", "4"}});
    CHECK(app::slurm_threads_warning(4).empty());
    CHECK(app::slurm_threads_warning(1).empty());
    const std::string w = app::slurm_threads_warning(8);
    CHECK(w.find("8 threads per rank but SLURM_CPUS_PER_TASK=4") != std::string::npos);
    CHECK(w.find("OMP_NUM_THREADS=$SLURM_CPUS_PER_TASK") != std::string::npos);
  }
  {
    SlurmEnv env({{"SLURM_JOB_ID", "7"}});  // no -c: nothing to compare with
    CHECK(app::slurm_threads_warning(64).empty());
  }
  for (const char* bad : {"", "x", "4x", "0", "-2"}) {
    SlurmEnv env({{"SLURM_JOB_ID", "7"}, {"SLURM_CPUS_PER_TASK", bad}});
    CHECK_MESSAGE(app::slurm_threads_warning(64).empty(), "SLURM_CPUS_PER_TASK=", bad);
  }
}

TEST_CASE("slurm_launch_warning: srun's tasks that each became a world of one") {
  {
    SlurmEnv env({{"SLURM_JOB_ID", "7"}, {"SLURM_STEP_NUM_TASKS", "4"}});
    CHECK(app::slurm_launch_warning(1).find("srun started 4 tasks but this one is an MPI world of 1") !=
          std::string::npos);
    CHECK(app::slurm_launch_warning(4).empty());  // srun --mpi=pmix: one world of 4
    CHECK(app::slurm_launch_warning(8).empty());  // mpirun: 8 ranks from one daemon step task per node
  }
  {
    SlurmEnv env({{"SLURM_JOB_ID", "7"}, {"SLURM_STEP_NUM_TASKS", "1"}});
    CHECK(app::slurm_launch_warning(1).empty());
  }
  {
    SlurmEnv env({{"SLURM_JOB_ID", "7"}});  // the batch script itself: no step
    CHECK(app::slurm_launch_warning(1).empty());
  }
}

TEST_CASE("report_slurm_job: RUN/slurm.txt under SLURM from the writing rank only") {
  test::TempDir tmp;
  {
    SlurmEnv env({});
    app::report_slurm_job(tmp.dir.string(), 2, 1, true);
    CHECK(tmp.entries().empty());
  }
  {
    SlurmEnv env({{"SLURM_JOB_ID", "42"}, {"SLURM_CPUS_PER_TASK", "2"}, {"SLURM_JOB_NUM_NODES", "1"}});
    app::report_slurm_job(tmp.dir.string(), 2, 1, false);
    CHECK(tmp.entries().empty());
    app::report_slurm_job(tmp.dir.string(), 2, 1, true);
    CHECK(read_file(tmp.file("slurm.txt")) ==
          "slurm: job 42, 1 node(s), 2 CPU(s) per task\nSLURM_JOB_ID=42\nSLURM_JOB_NUM_NODES=1\nSLURM_CPUS_PER_TASK=2\n");
  }
}
