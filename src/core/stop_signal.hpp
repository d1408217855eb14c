#pragma once
// Stop signals: SIGTERM, SIGUSR1 (SLURM's warning before the time limit or a preemption) and SIGINT
// ask a training run to stop at the next step, write a checkpoint and exit (README: Signals). The
// handlers only store the signal's number in an atomic flag; the trainer looks at it after each
// optimizer step, and the ranks agree on it through a collective. SIGINT's handler is installed
// with SA_RESETHAND: a second Ctrl-C ends the process at once.
#include <atomic>

namespace hpct {

// Installs the handlers (once per process) and returns the flag they set: 0, or the first signal.
const std::atomic<int>& install_stop_signals();

// Stores sig in the flag as a signal would (if none is there yet): a peer's signal relayed to this
// process (parallel/stop_relay.hpp).
void raise_stop_signal(int sig);

// A failing process ends on these signals again: mpirun's MPI_Abort ends the other ranks with SIGTERM,
// which a rank reporting its own error (main's error path) must not take for a request to checkpoint.
void restore_default_stop_signals();

// "SIGTERM", "SIGUSR1", "SIGINT", or "signal N".
const char* signal_name(int sig);

}  // namespace hpct
