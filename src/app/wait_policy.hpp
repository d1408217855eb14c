#pragma once
// OpenMP's default wait policy lets idle threads spin for a while before sleeping. When cores are
// shared (DDP's communication and loader threads, several ranks per node, other jobs), a spinning
// thread takes the core from the one everybody waits for: on this 2-core machine under load, 2
// threads ran 2-4x slower than 1 with spinning and faster than 1 with passive waiting. libgomp
// reads OMP_WAIT_POLICY once, when it loads (before main), so when the variable is unset hpctrain
// sets it to "passive" and re-executes itself once, before MPI or OpenMP start. A policy the user set
// is kept; HPCTRAIN_KEEP_WAIT_POLICY=1 skips the re-execution.
namespace hpct::app {

// Returns only when no re-execution is needed (or it failed; the run then goes on unchanged).
void ensure_passive_wait_policy(char** argv);

}  // namespace hpct::app
