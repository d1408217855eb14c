// CpuBackend: thread setup, streams, memory operations, casts and gemm (OpenBLAS).
#include "kernels/cpu/cpu_backend.hpp"

#include <omp.h>
#include <sched.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>

#include "kernels/cpu/cpu_activation.hpp"
#include "kernels/cpu/cpu_blas.hpp"
#include "kernels/cpu/cpu_common.hpp"
#include "kernels/cpu/cpu_widen.hpp"
#include "kernels/validate.hpp"


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

// OpenBLAS runs single-threaded inside our gemm parts (see gemm), so its own count is 1: the pthread
// build then never spins a second pool. The OpenMP build's openblas_set_num_threads also sets this
// thread's OpenMP count, hence the order. Our loops name their
// team size (num_threads(threads_)); the OpenMP default is set for code outside this backend.
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

// How gemm cuts C: `parts` single-threaded calls on consecutive blocks of `step` rows (or columns,
// when C is wider than tall), which run in parallel. Each call packs only its block of the long side's
// operand; the other operand is packed once per part.
struct GemmSplit {
  std::int64_t parts, step;
  bool rows;
};

// The parts depend on (m, n, k) only, never on the thread count: every call, and so every bit of C,
// is the same on any number of threads (OpenBLAS's own threading changed C's last bits with the thread
// count on its SkylakeX kernels, one part per thread did on its Haswell ones). Up to 4 parts (2 or 4 threads share them
// evenly; one thread re-packs the short side's operand at most 4 times), each of at least 2^20
// multiply-adds (~10 us on a core: less is not worth a fork), a power of two, in multiples of 64
// rows or columns. A 256 x 128 x 128 product of a small MLP is 4 parts, 256 x 128 x 64 is 2.
GemmSplit gemm_split(std::int64_t m, std::int64_t n, std::int64_t k) {
  constexpr double kMinPartMacs = 1048576.0;
  constexpr std::int64_t kMostParts = 4, kAlign = 64;
  const bool rows = m >= n;
  const std::int64_t side = rows ? m : n;
  const double macs = static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  std::int64_t parts = 1;
  while (parts * 2 <= kMostParts && parts * 2 * kAlign <= side && macs >= static_cast<double>(parts * 2) * kMinPartMacs)
    parts *= 2;
  const std::int64_t step = ((side + parts - 1) / parts + kAlign - 1) / kAlign * kAlign;
  return {(side + step - 1) / step, step, rows};
}

}  // namespace

// C[m, n] = alpha * op(A)[m, k] op(B)[k, n] + beta * C (+ bias[n] on every row when bias is given) on
// row-major matrix views (leading dims folded into rows): at most 4 single-threaded cblas_?gemm(RowMajor)
// calls on blocks of C's rows or columns (gemm_split), in parallel, with lda = A.cols(), ldb = B.cols(),
// ldc = n. The 256 x 256 tiles this replaced packed B again for every row tile and A for every column
// tile, and kept products under 2^22 multiply-adds on one thread (benchmarks/gemm_libraries.cpp
// measures them beside one call per product).
// With a bias, each block of C is first filled with the bias rows and the call adds to them (beta 1):
// the write-allocate pass OpenBLAS makes for beta = 0 is the fill. With an activation, y = f(C)
// follows on each block while it is in cache.
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
    const T* ap = a.ptr<T>();
    const T* bp = b.ptr<T>();
    const std::int64_t lda = std::max<std::int64_t>(1, a.cols()), ldb = std::max<std::int64_t>(1, b.cols());
    const T call_beta = biasp ? T(1) : static_cast<T>(beta);
    const GemmSplit sp = gemm_split(m, n, ka);
    // Part p: rows (or columns) [p * sp.step, ...) of C: the bias fill, one single-threaded call, and
    // the activation, while the block is in cache.
    const auto part = [&](std::int64_t p) {
      const std::int64_t b0 = p * sp.step, e = std::min(sp.rows ? m : n, b0 + sp.step);
      if (b0 >= e) return;
      const std::int64_t i0 = sp.rows ? b0 : 0, j0 = sp.rows ? 0 : b0;
      const std::int64_t mm = sp.rows ? e - b0 : m, nn = sp.rows ? n : e - b0;
      const std::int64_t at0 = i0 * n + j0;  // the block's first element in C (and y); rows n apart
      if (biasp)
        for (std::int64_t i = 0; i < mm; ++i) std::copy(biasp + j0, biasp + j0 + nn, cp + at0 + i * n);
      if (ka > 0) {
        const T* at = trans_a ? ap + i0 : ap + i0 * lda;  // op(A) rows i0..: A's columns when transposed
        const T* bt = trans_b ? bp + j0 * ldb : bp + j0;  // op(B) columns j0..: B's rows when transposed
        cpu::blas_gemm<T>(trans_a, trans_b, static_cast<int>(mm), static_cast<int>(nn), static_cast<int>(ka),
                          static_cast<T>(alpha), at, static_cast<int>(lda), bt, static_cast<int>(ldb), call_beta,
                          cp + at0, static_cast<int>(n));
      } else if (!biasp) {  // an empty sum: C = beta C (beta = 0 overwrites, as BLAS)
        for (std::int64_t i = 0; i < mm; ++i) {
          T* row = cp + at0 + i * n;
          for (std::int64_t j = 0; j < nn; ++j) row[j] = beta == 0.0 ? T(0) : static_cast<T>(beta * row[j]);
        }
      }
      if (yp)
        cpu::with_activation(epilogue.act, [&](auto act) {
          for (std::int64_t i = 0; i < mm; ++i)
            cpu::activate_span<decltype(act)::value>(cp + at0 + i * n, yp + at0 + i * n, nn);
        });
    };
    if (sp.parts == 1 || threads_ == 1) {
      cpu::single_threaded_blas([&] {
        for (std::int64_t p = 0; p < sp.parts; ++p) part(p);
      });
      return;
    }
#pragma omp parallel for num_threads(threads_) schedule(static)
    for (std::int64_t p = 0; p < sp.parts; ++p) part(p);
  });
}

}  // namespace hpct::kernels
