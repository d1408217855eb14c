// The memory bandwidth of this machine, the limit of elementwise work (activations, optimizer steps,
// layernorm): STREAM's triad a[i] = b[i] + s c[i] over three float arrays of 32 Mi elements (384 MiB,
// far beyond the caches) on T OpenMP threads; the best of 8 passes in GB/s, counting 12 bytes per
// element (two reads, one write; the write-allocate read is not counted, as in STREAM).
// Usage: mem_bandwidth [--threads T]
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

int main(int argc, char** argv) {
  int threads = 1;
  for (int i = 1; i + 1 < argc; i += 2)
    if (std::strcmp(argv[i], "--threads") == 0) threads = std::atoi(argv[i + 1]);
  if (threads < 1) {
    std::fprintf(stderr, "mem_bandwidth: --threads must be >= 1\n");
    return 2;
  }
  const std::int64_t n = std::int64_t{1} << 25;
  const std::unique_ptr<float[]> a(new float[n]), b(new float[n]), c(new float[n]);
  float* pa = a.get();
  const float* pb = b.get();
  const float* pc = c.get();
#pragma omp parallel for num_threads(threads) schedule(static)  // first touch by the thread that uses it
  for (std::int64_t i = 0; i < n; ++i) pa[i] = 0.0f, b[i] = 1.0f, c[i] = 2.0f;
  double best = 0.0;
  for (int pass = 0; pass < 8; ++pass) {
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel for num_threads(threads) schedule(static)
    for (std::int64_t i = 0; i < n; ++i) pa[i] = pb[i] + 3.0f * pc[i];
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, 12.0 * static_cast<double>(n) / s / 1e9);
  }
  std::printf("%.1f\n", best);
  return pa[n - 1] == 7.0f ? 0 : 1;  // and the triad is right
}
