// The sgemm rate of this machine, the denominator of model FLOPs utilisation: the median GFLOP/s of
// repeated C = A B (float32, n x n, OpenBLAS through cblas_sgemm) on T OpenMP threads (the OpenMP
// build of OpenBLAS follows omp_set_num_threads).
// With --shape M,N,K,TA,TB it measures one product of that shape instead, C[M, N] = op(A) op(B) with
// op = transpose where TA / TB is 1, one thread, as a transformer layer calls it: the ceiling that
// OpenBLAS itself puts on a model made of such products.
// Usage: sgemm_rate [--threads T] [--n N] [--shape M,N,K,TA,TB]
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
  int m = 0, cols = 0, k = 0, ta = 0, tb = 0;
  bool shaped = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--threads") == 0) {
      threads = std::atoi(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--n") == 0) {
      n = std::atoi(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--shape") == 0) {
      shaped = std::sscanf(argv[i + 1], "%d,%d,%d,%d,%d", &m, &cols, &k, &ta, &tb) == 5;
      if (!shaped || m < 1 || cols < 1 || k < 1) {
        std::fprintf(stderr, "sgemm_rate: --shape must be M,N,K,TA,TB with positive M, N, K, got '%s'\n",
                     argv[i + 1]);
        return 2;
      }
    }
  }
  if (threads < 1 || n < 16) {
    std::fprintf(stderr, "sgemm_rate: --threads must be >= 1 and --n >= 16\n");
    return 2;
  }
  if (!shaped) m = cols = k = n;
  openblas_set_num_threads(threads);
  omp_set_num_threads(threads);
  std::vector<float> a(static_cast<std::size_t>(m) * k, 0.5f), b(static_cast<std::size_t>(k) * cols, 0.25f),
      c(static_cast<std::size_t>(m) * cols);
  const int lda = ta ? m : k, ldb = tb ? k : cols;
  std::vector<double> rates;
  for (int rep = 0; rep < 12; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, cols, k, 1.0f,
                a.data(), lda, b.data(), ldb, 0.0f, c.data(), cols);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (rep >= 2) rates.push_back(2.0 * m * static_cast<double>(cols) * k / s / 1e9);  // the first two warm up
  }
  std::nth_element(rates.begin(), rates.begin() + rates.size() / 2, rates.end());
  std::printf("%.1f\n", rates[rates.size() / 2]);
  return c[0] == 0.5f * 0.25f * static_cast<float>(k) ? 0 : 1;  // and the product is right
}
