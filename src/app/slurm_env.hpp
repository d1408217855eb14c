#pragma once
// What SLURM tells a job step about itself, for the `train` banner and RUN/slurm.txt, so that a run
// directory records which job, array task and resources produced it. Everything is read from the
// environment; outside SLURM (no SLURM_JOB_ID) there is nothing to say.
#include <string>

namespace hpct::app {

// One line, e.g. "slurm: job 1234 (array 1230 task 4), 2 node(s), 4 task(s) per node, 1 GPU(s) per
// task, 8 CPU(s) per task"; parts whose variable is unset are left out. "" outside SLURM.
std::string slurm_description();

// A warning when `threads` (per rank) exceeds SLURM_CPUS_PER_TASK: the ranks would then share cores
// and slow each other down. "" when they fit, or when SLURM_CPUS_PER_TASK is unset or not a number.
std::string slurm_threads_warning(int threads);

// Under SLURM: prints the description (and the warning) and, from the rank that writes the run
// directory (`writer`), saves RUN/slurm.txt: the description, then the SLURM_* variables read. It is
// written at the start, so that a job that dies still says where it ran.
void report_slurm_job(const std::string& run_dir, int threads, bool writer);

}  // namespace hpct::app
