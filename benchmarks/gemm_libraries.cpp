// GEMM libraries and tilings measured on the models' own products (issue 18): for each product of the
// benchmark suite's models (the MLPs' forward, dX and dW, the transformers' projections, the attention
// heads), the GFLOP/s of
//   tiles256   what CpuBackend::gemm did before: 256 x 256 tiles (whole rows when there are >= 4 row
//              tiles), each one single-threaded OpenBLAS call, the tiles in parallel; under 2^22
//              multiply-adds one call on one thread
//   split      one single-threaded OpenBLAS call per thread, on near-equal parts of the rows (of the
//              columns when n > m); CpuBackend::gemm now makes up to 4 such calls, cut by shape
//              alone so that C's bits do not depend on the thread count
//   openblas   one OpenBLAS call threaded by OpenBLAS itself (the OpenMP build follows omp threads)
//   blis       BLIS (libblis-dev, OpenMP build), bli_sgemm, bli_thread_set_num_threads
//   onednn     oneDNN (libdnnl-dev) dnnl_sgemm
//   libxsmm    libxsmm (libxsmm-dev) JIT kernel from libxsmm_smmdispatch, 1 thread, where it gives one
// Each cell is the median over 3 rounds (the candidates interleaved in each round) of the mean rate of
// back-to-back calls for ~0.05 s. A column is
// "-" when the library was not found at build time (CMake: optional) or gives no kernel for the shape.
// Usage: gemm_libraries [--threads T]   (prints a Markdown table, one row per product and thread count)
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#ifdef HPCTRAIN_BENCH_BLIS
#include <blis.h>
#endif
#ifdef HPCTRAIN_BENCH_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif
#ifdef HPCTRAIN_BENCH_XSMM
#include <libxsmm.h>
#endif

extern "C" void openblas_set_num_threads(int);

namespace {

// C[m, n] = op(A)[m, k] op(B)[k, n], row-major, op = transpose when ta / tb.
struct Shape {
  const char *what, *role;
  int m, n, k;
  bool ta, tb;
};

struct Problem {
  Shape s;
  std::vector<float> a, b, c;
  int lda() const { return s.ta ? s.m : s.k; }
  int ldb() const { return s.tb ? s.k : s.n; }
};

void sgemm1(const Problem& p, int i0, int mm, int j0, int nn, float* c) {
  const float* a = p.s.ta ? p.a.data() + i0 : p.a.data() + static_cast<std::size_t>(i0) * p.lda();
  const float* b = p.s.tb ? p.b.data() + static_cast<std::size_t>(j0) * p.ldb() : p.b.data() + j0;
  cblas_sgemm(CblasRowMajor, p.s.ta ? CblasTrans : CblasNoTrans, p.s.tb ? CblasTrans : CblasNoTrans, mm, nn, p.s.k,
              1.0f, a, p.lda(), b, p.ldb(), 0.0f, c + static_cast<std::size_t>(i0) * p.s.n + j0, p.s.n);
}

// The old CpuBackend tiling (simplified: 256 x 256, whole rows from 4 row tiles on, halving to 4 tiles).
void tiles256(Problem& p, int threads) {
  const int m = p.s.m, n = p.s.n;
  int tm = m, tn = n;
  if (static_cast<double>(m) * n * p.s.k > 4194304.0) {
    const auto split = [](int d, int most) {
      const int parts = (d + most - 1) / most;
      return (d + parts - 1) / parts;
    };
    const int row_tiles = (m + 255) / 256;
    tm = split(m, 256);
    tn = split(n, row_tiles >= 4 ? 2048 : 256);
    while (((m + tm - 1) / tm) * ((n + tn - 1) / tn) < 4 && std::max(tm, tn) > 64) {
      int& side = tm >= tn ? tm : tn;
      side = split(&side == &tm ? m : n, (side + 1) / 2);
    }
  }
  const int tiles_n = (n + tn - 1) / tn, tiles = ((m + tm - 1) / tm) * tiles_n;
#pragma omp parallel for num_threads(threads) schedule(static) if (tiles > 1 && threads > 1)
  for (int t = 0; t < tiles; ++t) {
    const int i0 = (t / tiles_n) * tm, j0 = (t % tiles_n) * tn;
    sgemm1(p, i0, std::min(tm, m - i0), j0, std::min(tn, n - j0), p.c.data());
  }
}

// One single-threaded call per thread on near-equal parts of the longer side of C.
void split(Problem& p, int threads) {
  const bool rows = p.s.m >= p.s.n;
  const int d = rows ? p.s.m : p.s.n, part = (d + threads - 1) / threads;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
  for (int t = 0; t < threads; ++t) {
    const int b = t * part, e = std::min(d, b + part);
    if (b >= e) continue;
    if (rows)
      sgemm1(p, b, e - b, 0, p.s.n, p.c.data());
    else
      sgemm1(p, 0, p.s.m, b, e - b, p.c.data());
  }
}

void openblas(Problem& p, int threads) {
  omp_set_num_threads(threads);
  sgemm1(p, 0, p.s.m, 0, p.s.n, p.c.data());
  omp_set_num_threads(1);
}

#ifdef HPCTRAIN_BENCH_BLIS
void blis(Problem& p, int threads) {
  bli_thread_set_num_threads(threads);
  float one = 1.0f, zero = 0.0f;
  // Row-major op(A): element (i, l) at i * lda + l, or at l * lda + i when transposed.
  const inc_t lda = p.lda(), ldb = p.ldb();
  bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, p.s.m, p.s.n, p.s.k, &one, p.a.data(), p.s.ta ? 1 : lda,
            p.s.ta ? lda : 1, p.b.data(), p.s.tb ? 1 : ldb, p.s.tb ? ldb : 1, &zero, p.c.data(), p.s.n, 1);
}
#endif

#ifdef HPCTRAIN_BENCH_DNNL
void onednn(Problem& p, int threads) {
  omp_set_num_threads(threads);
  dnnl_sgemm(p.s.ta ? 'T' : 'N', p.s.tb ? 'T' : 'N', p.s.m, p.s.n, p.s.k, 1.0f, p.a.data(), p.lda(), p.b.data(),
             p.ldb(), 0.0f, p.c.data(), p.s.n);
  omp_set_num_threads(1);
}
#endif

#ifdef HPCTRAIN_BENCH_XSMM
// Column-major libxsmm: row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T.
std::function<void(Problem&, int)> xsmm_kernel(const Problem& p) {
  const int flags = (p.s.tb ? LIBXSMM_GEMM_FLAG_TRANS_A : 0) | (p.s.ta ? LIBXSMM_GEMM_FLAG_TRANS_B : 0);
  const libxsmm_blasint lda = p.ldb(), ldb = p.lda(), ldc = p.s.n;
  const float alpha = 1.0f, beta = 0.0f;
  const libxsmm_smmfunction f =
      libxsmm_smmdispatch(p.s.n, p.s.m, p.s.k, &lda, &ldb, &ldc, &alpha, &beta, &flags, nullptr);
  if (!f) return {};
  return [f](Problem& q, int) { f(q.b.data(), q.a.data(), q.c.data()); };
}
#endif

// GFLOP/s of back-to-back calls of f for ~0.05 s, or -1 without a kernel.
double rate(Problem& p, int threads, const std::function<void(Problem&, int)>& f) {
  if (!f) return -1;
  int calls = 0;
  double s = 0;
  const auto t0 = std::chrono::steady_clock::now();
  do {
    f(p, threads);
    ++calls;
    s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  } while (s < 0.05);
  return calls * 2.0 * p.s.m * static_cast<double>(p.s.n) * p.s.k / s / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> thread_counts{1, 2};
  for (int i = 1; i + 1 < argc; i += 2)
    if (std::strcmp(argv[i], "--threads") == 0) thread_counts = {std::atoi(argv[i + 1])};
  openblas_set_num_threads(1);
  omp_set_num_threads(1);
  // forward y = x W^T, dX = dY W, dW = dY^T x for each layer shape (tokens, out, in); then attention.
  struct Layer {
    const char* what;
    int rows, out, in;
  };
  const Layer layers[] = {{"mlp512 hidden (256, 512, 512)", 256, 512, 512},
                          {"mlp128 hidden (256, 128, 128)", 256, 128, 128},
                          {"mlp128 first (256, 128, 64)", 256, 128, 64},
                          {"tabular qkv (2432, 384, 128)", 2432, 384, 128},
                          {"tabular mlp-in (2432, 512, 128)", 2432, 512, 128},
                          {"tabular mlp-out (2432, 128, 512)", 2432, 128, 512},
                          {"lm qkv (1024, 768, 256)", 1024, 768, 256},
                          {"lm mlp-out (1024, 256, 1024)", 1024, 256, 1024}};
  std::vector<Shape> shapes;
  for (const Layer& l : layers) {
    shapes.push_back({l.what, "fwd", l.rows, l.out, l.in, false, true});
    shapes.push_back({l.what, "dX", l.rows, l.in, l.out, false, false});
    shapes.push_back({l.what, "dW", l.out, l.in, l.rows, true, false});
  }
  shapes.push_back({"tabular head", "scores", 19, 19, 32, false, true});
  shapes.push_back({"tabular head", "values", 19, 32, 19, false, false});
  shapes.push_back({"lm head", "scores", 128, 128, 64, false, true});
  shapes.push_back({"lm head", "values", 128, 64, 128, false, false});

  std::printf("| product | C = op(A) op(B) [m, n, k] | threads | tiles256 | split | openblas | blis | onednn | "
              "libxsmm |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  for (const Shape& s : shapes) {
    Problem p{s, std::vector<float>(static_cast<std::size_t>(s.m) * s.k, 0.5f),
              std::vector<float>(static_cast<std::size_t>(s.k) * s.n, 0.25f),
              std::vector<float>(static_cast<std::size_t>(s.m) * s.n)};
    for (const int t : thread_counts) {
      std::vector<std::function<void(Problem&, int)>> fs{tiles256, split, openblas, {}, {}, {}};
#ifdef HPCTRAIN_BENCH_BLIS
      fs[3] = blis;
#endif
#ifdef HPCTRAIN_BENCH_DNNL
      fs[4] = onednn;
#endif
#ifdef HPCTRAIN_BENCH_XSMM
      if (t == 1) fs[5] = xsmm_kernel(p);
#endif
      std::string row = std::string("| ") + s.what + " " + s.role + " | " + std::to_string(s.m) + ", " +
                        std::to_string(s.n) + ", " + std::to_string(s.k) + (s.ta ? " (A^T)" : "") +
                        (s.tb ? " (B^T)" : "") + " | " + std::to_string(t) + " |";
      // 3 rounds, the candidates interleaved in each (a shared machine's load moves them together).
      std::vector<std::vector<double>> rounds(fs.size());
      for (const auto& f : fs) rate(p, t, f);  // warm up: JIT, first touch, thread pools
      for (int round = 0; round < 3; ++round)
        for (std::size_t i = 0; i < fs.size(); ++i) rounds[i].push_back(rate(p, t, fs[i]));
      for (auto& rs : rounds) {
        std::sort(rs.begin(), rs.end());
        const double r = rs[1];
        char cell[32];
        std::snprintf(cell, sizeof cell, r < 0 ? " - |" : " %.1f |", r);
        row += cell;
      }
      std::printf("%s\n", row.c_str());
      std::fflush(stdout);
    }
  }
  return 0;
}
