// CpuBackend: thread setup, streams, memory operations, casts and gemm (OpenBLAS).
#include "kernels/cpu/cpu_backend.hpp"

#include <cblas.h>
#include <omp.h>
#include <sched.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <type_traits>

#include "kernels/cpu/cpu_activation.hpp"
#include "kernels/cpu/cpu_blas.hpp"
#include "kernels/cpu/cpu_common.hpp"
#include "kernels/cpu/cpu_widen.hpp"
#include "kernels/validate.hpp"

// OpenBLAS's own entry point (both the pthread and the OpenMP build have it). The OpenMP build
// (HPCTRAIN_OPENBLAS_OPENMP) shares OpenMP's pool and in fact follows omp_get_max_threads() of the
// calling thread; the pthread build owns a second pool. Either way gemm keeps OpenBLAS at one thread
// per call and parallelises over tiles itself (see gemm), so two pools never spin on the same cores.
extern "C" void openblas_set_num_threads(int);

namespace hpct::kernels {
namespace {

// The leading positive integer of an environment variable ("4(x2)" -> 4), or 0.
int env_leading_int(const char* name) {
  const char* s = std::getenv(name);
  if (!s) return 0;
  char* end = nullptr;
  const long v = std::strtol(s, &end, 10);
  if (end == s || v <= 0 || v > INT_MAX) return 0;
  return static_cast<int>(v);
}

// Hardware threads this process may run on: its affinity mask (a launcher or cgroup may restrict
// it), else the machine's count.
int usable_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

}  // namespace

int ranks_on_node() {
  for (const char* var : {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS_PER_NODE"})
    if (const int n = env_leading_int(var); n > 0) return n;
  return 1;
}

int default_cpu_threads() {
  if (const int n = env_leading_int("OMP_NUM_THREADS"); n > 0) return n;
  const int machine = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  return std::max(1, std::min(machine / ranks_on_node(), usable_cores()));
}

std::unique_ptr<Backend> make_cpu_backend(int threads) { return std::make_unique<CpuBackend>(threads); }

CpuBackend::CpuBackend(int threads)
    : threads_(threads > 0 ? threads : default_cpu_threads()), stream_([this] { count_host_sync(); }) {
  apply_threads();
  set_default_stream(stream_);
}

// OpenBLAS runs single-threaded inside our tiles (see gemm), so its own count is 1: the pthread
// build then never spins a second pool. The OpenMP build's openblas_set_num_threads also sets this
// thread's OpenMP count, hence the order. Our loops name their team size (num_threads(threads_)); the
// OpenMP default is set for code outside this backend.
void CpuBackend::apply_threads() const {
  openblas_set_num_threads(1);
  omp_set_num_threads(threads_);
}

std::unique_ptr<Stream> CpuBackend::create_stream() {
  return std::make_unique<cpu::CpuStream>([this] { count_host_sync(); });
}

std::unique_ptr<Event> CpuBackend::create_event() {
  return std::make_unique<cpu::CpuEvent>([this] { count_host_sync(); });
}

// ---- memory -----------------------------------------------------------------------------------------

// dst = src, bytewise (any dtype). Large copies are split into 1 MiB pieces across threads.
void CpuBackend::copy_impl(const Tensor& dst, const Tensor& src) {
  if (dst.data == src.data || dst.numel() == 0) return;
  char* d = static_cast<char*>(dst.data);
  const char* s = static_cast<const char*>(src.data);
  const auto bytes = static_cast<std::int64_t>(dst.bytes());
  constexpr std::int64_t kPiece = std::int64_t{1} << 20;
  cpu::parallel_blocks(bytes > 8 * kPiece ? threads_ : 1, bytes, kPiece, [&](std::int64_t b, std::int64_t e) {
    std::memcpy(d + b, s + b, static_cast<std::size_t>(e - b));
  });
}

namespace {

template <class T>
void fill_as(int threads, const Tensor& t, T v) {
  T* p = t.ptr<T>();
  cpu::parallel_blocks(threads, t.numel(), cpu::kGrainCheap,
                       [&](std::int64_t b, std::int64_t e) { std::fill(p + b, p + e, v); });
}

}  // namespace

// t[i] = value, converted to t's dtype (16-bit rounds to nearest-even).
void CpuBackend::fill_impl(const Tensor& t, double value) {
  switch (t.dtype) {
    case DType::i32: fill_as(threads_, t, static_cast<std::int32_t>(value)); return;
    case DType::i64: fill_as(threads_, t, static_cast<std::int64_t>(value)); return;
    default: break;
  }
  cpu::dispatch_storage("fill", t.dtype, [&](auto zero) {
    using T = decltype(zero);
    fill_as(threads_, t, cpu::convert<T>(value));
  });
}

// dst = src converted element by element (rounding once to nearest-even).
void CpuBackend::cast_impl(const Tensor& src, const Tensor& dst) {
  if (src.dtype == dst.dtype) {
    CpuBackend::copy_impl(dst, src);
    return;
  }
  cpu::dispatch_storage("cast", src.dtype, [&](auto s_zero) {
    cpu::dispatch_storage("cast", dst.dtype, [&](auto d_zero) {
      using S = decltype(s_zero);
      using D = decltype(d_zero);
      const S* s = src.ptr<S>();
      D* d = dst.ptr<D>();
      cpu::parallel_blocks(threads_, src.numel(), cpu::kGrainCheap, [=](std::int64_t b, std::int64_t e) {
        for (std::int64_t i = b; i < e; ++i) d[i] = cpu::convert<D>(s[i]);
      });
    });
  });
}

// out[i, :] = src[index[i], :], rows of src.cols() elements (any dtype).
void CpuBackend::gather_rows_impl(const Tensor& src, const Tensor& index, const Tensor& out) {
  constexpr const char* k = "gather_rows";
  const std::int64_t n = index.numel(), rows = src.rows();
  const std::int64_t* idx = index.ptr<std::int64_t>();
  for (std::int64_t i = 0; i < n; ++i)
    HPCT_CHECK(idx[i] >= 0 && idx[i] < rows, k, ": index[", i, "] = ", idx[i], " is out of range for ", rows,
               " rows of src ", src.shape.str());
  const std::size_t row_bytes = static_cast<std::size_t>(src.cols()) * size_of(src.dtype);
  if (row_bytes == 0) return;
  const char* s = static_cast<const char*>(src.data);
  char* d = static_cast<char*>(out.data);
  const std::int64_t grain = std::max<std::int64_t>(1, (std::int64_t{1} << 18) / static_cast<std::int64_t>(row_bytes));
  cpu::parallel_blocks(threads_, n, grain, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i)
      std::memcpy(d + static_cast<std::size_t>(i) * row_bytes, s + static_cast<std::size_t>(idx[i]) * row_bytes,
                  row_bytes);
  });
}

// ---- gemm ---------------------------------------------------------------------------------------------
namespace {

// C is cut into tiles whose size depends on (m, n, k) only; each tile is one single-threaded BLAS call,
// and the tiles run in parallel. The bits of C therefore do not depend on the thread count (OpenBLAS's
// own threading splits the work by thread count and changes the last bits with it).
struct GemmTiles {
  std::int64_t tm, tn;
};

// Tiles of at most 256 rows (m cut into near-equal parts): one OpenBLAS call on a 256-row tile runs
// at ~97% of its speed on a 512 x 1024 matrix (128 rows: ~88%). Each call packs its panels of A and
// B anew, so a tile keeps all n columns (up to 2048) when m alone gives 4 tiles or more to share:
// B is then packed m / 256 times instead of (m / 256) x (n / 256), and A once. Otherwise n is cut
// into 256-column parts as well, for parallelism. Products under 2^22 multiply-adds (~60 us on a core)
// stay one call. The tiles depend on (m, n, k) only, never on the thread count.
GemmTiles gemm_tiles(std::int64_t m, std::int64_t n, std::int64_t k) {
  constexpr double kSerialMacs = 4194304.0;
  constexpr std::int64_t kTile = 256, kWide = 2048, kNarrow = 64;
  if (static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) <= kSerialMacs) return {m, n};
  const auto split = [](std::int64_t d, std::int64_t most) {
    const std::int64_t parts = (d + most - 1) / most;
    return (d + parts - 1) / parts;
  };
  const std::int64_t row_tiles = (m + kTile - 1) / kTile;
  std::int64_t tm = split(m, kTile), tn = split(n, row_tiles >= 4 ? kWide : kTile);
  // Under 4 tiles, two threads would wait on each other (one tile, or three): the larger side is
  // halved down to kNarrow (a transformer's [128, 128] weight gradient over 2432 rows was one tile).
  const auto tiles = [&] { return ((m + tm - 1) / tm) * ((n + tn - 1) / tn); };
  while (tiles() < 4 && std::max(tm, tn) > kNarrow) {
    std::int64_t& side = tm >= tn ? tm : tn;
    side = split(&side == &tm ? m : n, (side + 1) / 2);
  }
  return {tm, tn};
}

}  // namespace

// C[m, n] = alpha * op(A)[m, k] op(B)[k, n] + beta * C (+ bias[n] on every row when bias is given) on
// row-major matrix views (leading dims folded into rows), tile by tile: C[i0:, j0:] = alpha op(A)[i0:, :]
// op(B)[:, j0:] + beta C[i0:, j0:], each tile one cblas_?gemm(RowMajor) call with lda = A.cols(),
// ldb = B.cols(), ldc = n. With a bias each tile is first filled with the bias rows and the call adds to
// them (beta 1): the bias costs no pass over C of its own, and the write-allocate pass OpenBLAS makes
// for beta = 0 is the fill. With an activation, y = f(C) follows on each tile while it is in cache.
void CpuBackend::gemm_impl(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, const Tensor& c,
                           double alpha, double beta, const GemmEpilogue& epilogue) {
  const Tensor none;
  const Tensor& bias_t = epilogue.bias ? *epilogue.bias : none;
  const Tensor& y_t = epilogue.y ? *epilogue.y : none;
  if (widened(
          [&](const Tensor& a32, const Tensor& b32, const Tensor& c32, const Tensor& bias32, const Tensor& y32) {
            CpuBackend::gemm_impl(a32, trans_a, b32, trans_b, c32, alpha, beta,
                                  {epilogue.bias ? &bias32 : nullptr, epilogue.act, epilogue.y ? &y32 : nullptr});
          },
          cpu::in(a), cpu::in(b), beta == 0.0 || epilogue.bias ? cpu::out(c) : cpu::inout(c), cpu::in(bias_t),
          cpu::out(y_t)))
    return;
  const Tensor* bias = epilogue.bias;
  const Tensor* y = epilogue.y;
  using validate::matrix_rows;
  const std::int64_t a_rows = matrix_rows(a), b_rows = matrix_rows(b);
  const std::int64_t m = trans_a ? a.cols() : a_rows, ka = trans_a ? a_rows : a.cols();
  const std::int64_t n = trans_b ? b_rows : b.cols();
  cpu::dispatch_float("gemm", a.dtype, [&](auto zero) {
    using T = decltype(zero);
    if (m == 0 || n == 0) return;
    T* cp = c.ptr<T>();
    T* yp = y ? y->ptr<T>() : nullptr;
    const T* biasp = bias ? bias->ptr<T>() : nullptr;
    // Row i of tile (i0, j0) of C, nn wide, starts as bias[j0 ..] (beta is then 1).
    const auto fill_bias = [&](std::int64_t i0, std::int64_t j0, std::int64_t mm, std::int64_t nn) {
      for (std::int64_t i = i0; i < i0 + mm; ++i) std::copy(biasp + j0, biasp + j0 + nn, cp + i * n + j0);
    };
    // Rows of tile (i0, j0) of y = f(C).
    const auto activate = [&](std::int64_t i0, std::int64_t j0, std::int64_t mm, std::int64_t nn) {
      cpu::with_activation(epilogue.act, [&](auto act) {
        for (std::int64_t i = i0; i < i0 + mm; ++i)
          cpu::activate_span<decltype(act)::value>(cp + i * n + j0, yp + i * n + j0, nn);
      });
    };
    if (ka == 0) {  // an empty sum: C = beta C (beta = 0 overwrites, as BLAS), or the bias rows
      if (biasp) {
        fill_bias(0, 0, m, n);
      } else {
        cpu::parallel_blocks(threads_, m * n, cpu::kGrainCheap, [&](std::int64_t i0, std::int64_t i1) {
          for (std::int64_t i = i0; i < i1; ++i) cp[i] = beta == 0.0 ? T(0) : static_cast<T>(beta * cp[i]);
        });
      }
      if (yp) activate(0, 0, m, n);
      return;
    }
    const T* ap = a.ptr<T>();
    const T* bp = b.ptr<T>();
    const auto ta = trans_a ? CblasTrans : CblasNoTrans, tb = trans_b ? CblasTrans : CblasNoTrans;
    const std::int64_t lda = std::max<std::int64_t>(1, a.cols()), ldb = std::max<std::int64_t>(1, b.cols());
    const GemmTiles t = gemm_tiles(m, n, ka);
    const std::int64_t tiles_n = (n + t.tn - 1) / t.tn, tiles = ((m + t.tm - 1) / t.tm) * tiles_n;
    const T tile_beta = biasp ? T(1) : static_cast<T>(beta);
    const auto tile = [&](std::int64_t i) {
      const std::int64_t i0 = (i / tiles_n) * t.tm, j0 = (i % tiles_n) * t.tn;
      const int mm = static_cast<int>(std::min(t.tm, m - i0)), nn = static_cast<int>(std::min(t.tn, n - j0));
      const T* at = trans_a ? ap + i0 : ap + i0 * lda;  // op(A) rows i0.. = columns of A when transposed
      const T* bt = trans_b ? bp + j0 * ldb : bp + j0;  // op(B) columns j0.. = rows of B when transposed
      T* ct = cp + i0 * n + j0;
      if (biasp) fill_bias(i0, j0, mm, nn);
      if constexpr (std::is_same_v<T, float>)
        cblas_sgemm(CblasRowMajor, ta, tb, mm, nn, static_cast<int>(ka), static_cast<float>(alpha), at,
                    static_cast<int>(lda), bt, static_cast<int>(ldb), tile_beta, ct, static_cast<int>(n));
      else
        cblas_dgemm(CblasRowMajor, ta, tb, mm, nn, static_cast<int>(ka), alpha, at, static_cast<int>(lda), bt,
                    static_cast<int>(ldb), tile_beta, ct, static_cast<int>(n));
      if (yp) activate(i0, j0, mm, nn);
    };
    if (tiles == 1 || threads_ == 1) {
      cpu::single_threaded_blas([&] {
        for (std::int64_t i = 0; i < tiles; ++i) tile(i);
      });
      return;
    }
#pragma omp parallel for num_threads(threads_) schedule(static) if (tiles > 1)
    for (std::int64_t i = 0; i < tiles; ++i) tile(i);
  });
}

}  // namespace hpct::kernels
