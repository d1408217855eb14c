#pragma once
// Zero-copy allreduce for ranks on one node. Every rank's buffer lives in one MPI shared-memory
// window (MPI_Win_allocate_shared), so each rank can load and store its peers' buffers directly:
// rank r reduces its 1/p slice of a range by reading the slice from every rank's buffer (in rank
// order, so the result is deterministic) and writes the result back into all of them. Per rank that
// is n loads and n stores for an n-element range, where MPI_Allreduce over shared memory copies the
// data in and out of its own buffers (measured here at ~2 GB/s), which on a node whose cores all
// compute is CPU time taken from training.
//
// Two arrivals per operation order it: all ranks' ranges are final before anyone reads (phase 1), and
// all slices are written before anyone goes on (phase 2). An arrival is a release-store of a
// generation counter in the window's header; waiting spins briefly, then yields, then sleeps, checking
// the clock at each, and fails after the timeout naming the rank, as a stuck MPI collective would.
//
// Across nodes (node-aware reduction): each node's window first reduces inside the node, then its
// leader (node rank 0) runs `across` on its buffer (MPI_Allreduce among the leaders), and the other
// ranks of the node copy the leader's result (share_from_leader).
#include <mpi.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/dtype.hpp"
#include "parallel/communicator.hpp"

namespace hpct::dist {

class ShmWindow {
 public:
  // Collective over node_comm (every rank on this node): `bytes` of zeroed memory per rank.
  ShmWindow(MPI_Comm node_comm, std::size_t bytes, int world_rank);
  ~ShmWindow();  // MPI_Win_free: collective, like the constructor
  ShmWindow(const ShmWindow&) = delete;
  ShmWindow& operator=(const ShmWindow&) = delete;

  void* local() const { return bases_[static_cast<std::size_t>(rank_)]; }
  std::size_t bytes() const { return bytes_; }
  // Whether [p, p + n) lies in this rank's buffer.
  bool contains(const void* p, std::size_t n) const;

  // In every rank's buffer, elements [offset, offset + count) of `dtype` become their sum (or average)
  // over the ranks. Every rank calls it with the same range, in the same order.
  void allreduce(std::size_t offset, std::int64_t count, DType dtype, ReduceOp op, std::chrono::milliseconds timeout);
  // ZeRO's gradient reduction: this rank's block, elements [offset + r n, offset + (r + 1) n) of `dtype`
  // (r this rank), summed (or averaged) over every rank's buffer in rank order, as allreduce sums, into
  // out (n elements, any memory). Per rank n loads per rank and n stores, against allreduce's p n.
  void reduce_scatter(std::size_t offset, std::int64_t n, DType dtype, ReduceOp op, void* out,
                      std::chrono::milliseconds timeout);
  // ZeRO's parameter gather: every rank's bytes [offset, offset + n) (the same range in each buffer)
  // copied into out, rank r's at out + r n. Two arrivals again: every rank's block is written before
  // anyone reads, and read before anyone writes the buffer again.
  void allgather(std::size_t offset, std::size_t n, void* out, std::chrono::milliseconds timeout);
  // After allreduce: the leader runs across() on its buffer; then every rank copies the leader's
  // bytes [offset, offset + n). Two arrivals: the result is there before anyone copies, and every
  // copy is done before the leader goes on (and writes the next step's gradients).
  template <class F>
  void share_from_leader(std::size_t offset, std::size_t n, std::chrono::milliseconds timeout, F across) {
    if (rank_ == 0) across();
    ++generation_;
    arrive_and_wait(2 * generation_ - 1, timeout, "waiting for the leader's cross-node result");
    if (rank_ != 0) std::memcpy(bases_[static_cast<std::size_t>(rank_)] + offset, bases_[0] + offset, n);
    arrive_and_wait(2 * generation_, timeout, "waiting for the node to copy the result");
  }
  // Node-aware: leaders is the communicator of the nodes' leaders (MPI_COMM_NULL on other ranks),
  // owned from now on.
  void set_across_nodes(MPI_Comm leaders) { across_nodes_ = true; leaders_ = leaders; }
  bool across_nodes() const { return across_nodes_; }
  MPI_Comm leaders() const { return leaders_; }

 private:
  void arrive_and_wait(std::uint64_t value, std::chrono::milliseconds timeout, const char* phase);
  // Sums elements [begin, end) of the range at offset over the ranks; into out (indexed from begin) when
  // given, else into every rank's buffer.
  template <class T>
  void reduce_slice(std::size_t offset, std::int64_t begin, std::int64_t end, ReduceOp op, T* out = nullptr);
  template <class F>
  void dispatch(DType dtype, const char* what, F&& f);

  MPI_Win win_ = MPI_WIN_NULL;
  bool across_nodes_ = false;
  MPI_Comm leaders_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1, world_rank_ = 0;
  std::size_t bytes_ = 0;
  std::vector<char*> bases_;                 // every rank's buffer
  std::vector<std::uint64_t*> counters_;     // every rank's arrival counter
  std::uint64_t generation_ = 0;
};

}  // namespace hpct::dist
