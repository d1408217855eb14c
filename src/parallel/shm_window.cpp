#include "parallel/shm_window.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>

#include "core/error.hpp"
#include "parallel/mpi_communicator.hpp"

namespace hpct::dist {
namespace {

// Each rank's segment: a 64-byte header holding its arrival counter, then its buffer.
constexpr std::size_t kHeader = 64;
// Elements reduced per pass: small enough to stay in L1 while every rank's copy is read.
constexpr std::int64_t kChunk = 2048;

}  // namespace

ShmWindow::ShmWindow(MPI_Comm node_comm, std::size_t bytes, int world_rank) : world_rank_(world_rank), bytes_(bytes) {
  check_mpi(MPI_Comm_rank(node_comm, &rank_), "MPI_Comm_rank");
  check_mpi(MPI_Comm_size(node_comm, &size_), "MPI_Comm_size");
  MPI_Info info;
  check_mpi(MPI_Info_create(&info), "MPI_Info_create");
  MPI_Info_set(info, "alloc_shared_noncontig", "true");  // each segment on its owner's NUMA node
  char* mine = nullptr;
  const int rc = MPI_Win_allocate_shared(static_cast<MPI_Aint>(kHeader + bytes), 1, info, node_comm, &mine, &win_);
  MPI_Info_free(&info);
  check_mpi(rc, "MPI_Win_allocate_shared");
  std::memset(mine, 0, kHeader + bytes);
  for (int r = 0; r < size_; ++r) {
    MPI_Aint size = 0;
    int disp = 0;
    char* base = nullptr;
    check_mpi(MPI_Win_shared_query(win_, r, &size, &disp, &base), "MPI_Win_shared_query");
    counters_.push_back(reinterpret_cast<std::uint64_t*>(base));
    bases_.push_back(base + kHeader);
  }
  check_mpi(MPI_Barrier(node_comm), "MPI_Barrier");  // every segment zeroed before anyone uses it
}

ShmWindow::~ShmWindow() {
  if (leaders_ != MPI_COMM_NULL) MPI_Comm_free(&leaders_);
  if (win_ != MPI_WIN_NULL) MPI_Win_free(&win_);
}

bool ShmWindow::contains(const void* p, std::size_t n) const {
  const char* c = static_cast<const char*>(p);
  return c >= bases_[static_cast<std::size_t>(rank_)] && c + n <= bases_[static_cast<std::size_t>(rank_)] + bytes_;
}

void ShmWindow::arrive_and_wait(std::uint64_t value, std::chrono::milliseconds timeout, const char* phase) {
  std::atomic_ref<std::uint64_t>(*counters_[static_cast<std::size_t>(rank_)]).store(value, std::memory_order_release);
  const auto start = std::chrono::steady_clock::now();
  for (int r = 0; r < size_; ++r) {
    std::atomic_ref<std::uint64_t> peer(*counters_[static_cast<std::size_t>(r)]);
    for (std::uint64_t spins = 0; peer.load(std::memory_order_acquire) < value; ++spins) {
      if (spins < 4096) continue;  // the common case: the peer is microseconds away
      // Every yield or sleep checks the deadline (a clock read is ~20 ns): on a loaded machine (or a
      // throttled cgroup) one of them can take milliseconds to seconds, so a check every 1024 of
      // them let the wait overrun its timeout for minutes.
      if (std::chrono::steady_clock::now() - start > timeout)
        fail("rank ", world_rank_, ": shared-memory allreduce (", phase, ") did not complete within ",
             timeout.count() / 1000.0, " s (a peer rank failed, hangs, or issued different collectives)");
      if (spins < 65536)
        std::this_thread::yield();
      else
        std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  }
}

namespace {
// Elements as the accumulator reads them and back: 16-bit floats add in float and round once per
// stored result (NCCL's bf16/fp16 sums round per addition; ours per reduction: closer to exact).
template <class T> auto widen(T x) { return x; }
inline float widen(bf16 x) { return to_float(x); }
inline float widen(f16 x) { return to_float(x); }
template <class T, class A> T narrow(A x) { return static_cast<T>(x); }
template <> inline bf16 narrow<bf16, float>(float x) { return to_bf16(x); }
template <> inline f16 narrow<f16, float>(float x) { return to_f16(x); }
}  // namespace

// Slice [begin, end) of the range: sum the ranks' copies in rank order, then store into every copy (or
// into out).
template <class T>
void ShmWindow::reduce_slice(std::size_t offset, std::int64_t begin, std::int64_t end, ReduceOp op, T* out) {
  using A = decltype(widen(T{}));
  A acc[kChunk];
  for (std::int64_t c = begin; c < end; c += kChunk) {
    const std::int64_t n = std::min(kChunk, end - c);
    const T* first = reinterpret_cast<const T*>(bases_[0] + offset) + c;
    for (std::int64_t i = 0; i < n; ++i) acc[i] = widen(first[i]);
    for (int r = 1; r < size_; ++r) {
      const T* src = reinterpret_cast<const T*>(bases_[static_cast<std::size_t>(r)] + offset) + c;
      for (std::int64_t i = 0; i < n; ++i) acc[i] += widen(src[i]);
    }
    if (op == ReduceOp::average)  // then a division, as MpiCommunicator's average
      for (std::int64_t i = 0; i < n; ++i) acc[i] /= static_cast<A>(size_);
    if (out) {
      for (std::int64_t i = 0; i < n; ++i) out[c - begin + i] = narrow<T>(acc[i]);
      continue;
    }
    for (int r = 0; r < size_; ++r) {
      T* dst = reinterpret_cast<T*>(bases_[static_cast<std::size_t>(r)] + offset) + c;
      for (std::int64_t i = 0; i < n; ++i) dst[i] = narrow<T>(acc[i]);
    }
  }
}

// Calls f(T{}) for the element type of dtype.
template <class F>
void ShmWindow::dispatch(DType dtype, const char* what, F&& f) {
  if (dtype == DType::f32)
    f(float{});
  else if (dtype == DType::f64)
    f(double{});
  else if (dtype == DType::bf16)
    f(bf16{});
  else if (dtype == DType::f16)
    f(f16{});
  else
    fail("shared-memory ", what, ": ", name_of(dtype), " is not supported");
}

void ShmWindow::allreduce(std::size_t offset, std::int64_t count, DType dtype, ReduceOp op,
                          std::chrono::milliseconds timeout) {
  HPCT_CHECK(offset + static_cast<std::size_t>(count) * size_of(dtype) <= bytes_,
             "shared-memory allreduce: range beyond the window");
  ++generation_;
  arrive_and_wait(2 * generation_ - 1, timeout, "waiting for the ranks' gradients");
  // Slices of whole 16-element blocks, so no two ranks write the same cache line.
  const std::int64_t blocks = (count + 15) / 16;
  const std::int64_t begin = std::min(count, blocks * rank_ / size_ * 16);
  const std::int64_t end = std::min(count, blocks * (rank_ + 1) / size_ * 16);
  dispatch(dtype, "allreduce", [&](auto zero) { reduce_slice<decltype(zero)>(offset, begin, end, op); });
  arrive_and_wait(2 * generation_, timeout, "waiting for the reduced slices");
}

// The same sums as allreduce (rank order, then the division), so a shard is bit for bit the slice of
// an allreduce of the same range.
void ShmWindow::reduce_scatter(std::size_t offset, std::int64_t n, DType dtype, ReduceOp op, void* out,
                               std::chrono::milliseconds timeout) {
  HPCT_CHECK(offset + static_cast<std::size_t>(n * size_) * size_of(dtype) <= bytes_,
             "shared-memory reduce_scatter: range beyond the window");
  ++generation_;
  arrive_and_wait(2 * generation_ - 1, timeout, "waiting for the ranks' gradients");
  const std::int64_t begin = n * rank_;
  dispatch(dtype, "reduce_scatter", [&](auto zero) {
    using T = decltype(zero);
    reduce_slice<T>(offset, begin, begin + n, op, static_cast<T*>(out));
  });
  arrive_and_wait(2 * generation_, timeout, "waiting for the ranks to read their blocks");
}

void ShmWindow::allgather(std::size_t offset, std::size_t n, void* out, std::chrono::milliseconds timeout) {
  HPCT_CHECK(offset + n <= bytes_, "shared-memory allgather: range beyond the window");
  ++generation_;
  arrive_and_wait(2 * generation_ - 1, timeout, "waiting for the ranks' blocks");
  for (int r = 0; r < size_; ++r)
    std::memcpy(static_cast<char*>(out) + static_cast<std::size_t>(r) * n, bases_[static_cast<std::size_t>(r)] + offset, n);
  arrive_and_wait(2 * generation_, timeout, "waiting for the ranks to copy the blocks");
}

}  // namespace hpct::dist
