// The sgemm rate of this machine, the denominator of model FLOPs utilisation: the median GFLOP/s of
// repeated C = A B (float32, n x n, OpenBLAS through cblas_sgemm) on T OpenMP threads (the OpenMP
// build of OpenBLAS follows omp_set_num_threads). Usage: sgemm_rate [--threads T] [--n N]
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

extern "C" void openblas_set_num_threads(int);

int main(int argc, char** argv) {
  int threads = 1, n = 1024;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--threads") == 0) threads = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--n") == 0) n = std::atoi(argv[i + 1]);
  }
  if (threads < 1 || n < 16) {
    std::fprintf(stderr, "sgemm_rate: --threads must be >= 1 and --n >= 16\n");
    return 2;
  }
  openblas_set_num_threads(threads);
  omp_set_num_threads(threads);
  std::vector<float> a(static_cast<std::size_t>(n) * n, 0.5f), b(a.size(), 0.25f), c(a.size());
  std::vector<double> rates;
  for (int rep = 0; rep < 12; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (rep >= 2) rates.push_back(2.0 * n * n * static_cast<double>(n) / s / 1e9);  // the first two warm up
  }
  std::nth_element(rates.begin(), rates.begin() + rates.size() / 2, rates.end());
  std::printf("%.1f\n", rates[rates.size() / 2]);
  return c[0] == 0.5f * 0.25f * static_cast<float>(n) ? 0 : 1;  // and the product is right
}
