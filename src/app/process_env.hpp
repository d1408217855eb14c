#pragma once
// Settings that libraries read once, when they load (before main), so hpctrain sets them and
// re-executes itself once, before MPI or OpenMP start. Settings of the user's are always kept;
// HPCTRAIN_KEEP_ENVIRONMENT=1 (or the older HPCTRAIN_KEEP_WAIT_POLICY=1) skips all of this.
//
// - GOMP_SPINCOUNT=20000: how long idle OpenMP threads spin before they sleep. libgomp's default
//   (300,000 spins, about a millisecond) hurts when cores are shared (DDP's communication and loader
//   threads, several ranks per node, other jobs): a spinning thread takes the core from the one
//   everybody waits for (a tabular transformer on 2 threads under load: 205 samples/s spinning, 793
//   sleeping at once). Never spinning (OMP_WAIT_POLICY=passive) is as bad the other way on a quiet
//   machine, where every short parallel region then pays a wake-up (default MLP on 2 threads: 99k
//   samples/s against 621k). A short spin kept 544k and 908 samples/s quiet.
//   On a busy machine (1-minute load average >= twice its hardware threads: other jobs, builds) even the
//   short spin loses: OMP_WAIT_POLICY=PASSIVE instead (an MLP 64-128x3-1 on 2 threads at load 11 on
//   2 vCPUs: 8-19k samples/s with the short spin, 1,000 spins 30-40k, passive 52-199k, against
//   46-57k on 1 thread; issue 18). Neither is set when the user
//   set OMP_WAIT_POLICY or GOMP_SPINCOUNT, or binds threads (OMP_PROC_BIND, OMP_PLACES: libgomp has
//   then pinned this thread to one core before main, and the re-executed process would inherit it).
// - OPENBLAS_CORETYPE: when OpenBLAS picked an older kernel family than the CPU supports (an unknown
//   CPU model falls back to SSE3 "Prescott"), the AVX-512 or AVX2 family (kernels/cpu/blas_kernel.hpp).
namespace hpct::app {

// Returns only when no re-execution is needed (or it failed; the run then goes on unchanged).
void prepare_process_environment(char** argv);

}  // namespace hpct::app
