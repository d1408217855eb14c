#pragma once
// What SLURM tells a job step about itself, for the `train` banner and RUN/slurm.txt, so that a run
// directory records which job, array task and resources produced it. Everything is read from the
// environment; outside SLURM (no SLURM_JOB_ID) there is nothing to say.
#include <string>

namespace hpct::app {

// One line, e.g. "slurm: job 1234 (array 1230 task 4), 2 node(s), 4 task(s) per node, 1 GPU(s) per
// task, 8 CPU(s) per task"; parts whose variable is unset are left out. "" outside SLURM. Under
// mpirun, the tasks per node are Open MPI's ranks per node (OMPI_COMM_WORLD_LOCAL_SIZE).
std::string slurm_description();

// A warning (for log::warn, which adds "warning: ") when `threads` (per rank) exceeds
// SLURM_CPUS_PER_TASK: the ranks would then share cores and slow each other down. "" when they fit,
// or when SLURM_CPUS_PER_TASK is unset or not a number.
std::string slurm_threads_warning(int threads);

// A warning (for log::warn) when srun started several tasks (SLURM_STEP_NUM_TASKS) but this process
// is an MPI world of `world_size` 1: srun without --mpi=pmix (where MpiDefault=none) starts every
// task as a world of its own, and each trains alone into the same run directory. "" otherwise.
std::string slurm_launch_warning(int world_size);

// Under SLURM: prints the description (and the warnings) and, from the rank that writes the run
// directory (`writer`), saves RUN/slurm.txt: the description, then the SLURM_* variables read. It is
// written at the start, so that a job that dies still says where it ran.
void report_slurm_job(const std::string& run_dir, int threads, int world_size, bool writer);


// --requeue after a stop by signal: under SLURM (SLURM_JOB_ID set) runs `scontrol requeue JOBID`, so
// the job starts again and continues with --resume auto; reports what it did. Outside SLURM it only
// says so. A failed requeue is reported, not an error: the checkpoint is written either way.
void requeue_slurm_job();
}  // namespace hpct::app
