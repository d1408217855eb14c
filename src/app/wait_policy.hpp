#pragma once
// How long idle OpenMP threads spin before they sleep. libgomp's default (300,000 spins, about a
// millisecond) hurts when cores are shared (DDP's communication and loader threads, several ranks
// per node, other jobs): a spinning thread takes the core from the one everybody waits for (a
// tabular transformer on 2 threads under load: 205 samples/s spinning, 793 sleeping at once). Never
// spinning (OMP_WAIT_POLICY=passive) is as bad the other way on a quiet machine, where every short
// parallel region then pays a wake-up (default MLP on 2 threads: 99k samples/s against 621k). A
// short spin, GOMP_SPINCOUNT=20000 (tens of microseconds), kept 544k and 908 samples/s quiet.
// libgomp reads these once, when it loads (before main), so when neither is set hpctrain sets
// GOMP_SPINCOUNT and re-executes itself once, before MPI or OpenMP start. Settings of the user's are
// kept; HPCTRAIN_KEEP_WAIT_POLICY=1 skips the re-execution.
namespace hpct::app {

// Returns only when no re-execution is needed (or it failed; the run then goes on unchanged).
void ensure_short_openmp_spin(char** argv);

}  // namespace hpct::app
