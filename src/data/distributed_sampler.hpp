#pragma once
// Which rows each rank trains on in an epoch, with the semantics of PyTorch's DistributedSampler:
// a permutation of all N rows from (seed, epoch), then either padded by repeating rows from its start
// up to a multiple of the world size, or cut down to one (drop_last); rank r takes every world-th row
// starting at r. Every rank therefore runs the same number of steps, so no collective is left waiting
// at the end of an epoch, and the shares are disjoint (drop_last) or disjoint up to the padding.
#include <cstdint>
#include <vector>

namespace hpct::data {

// The order of N rows in epoch `epoch`: a Fisher-Yates shuffle driven by mt19937_64 seeded from
// (seed, epoch), whose output the C++ standard fixes, so the order is the same on every platform.
std::vector<std::int64_t> epoch_permutation(std::int64_t n, std::uint64_t seed, std::int64_t epoch);

class DistributedSampler {
 public:
  // Throws naming the value when n, world or rank is out of range, or when drop_last leaves a rank
  // no rows (n < world x batch). With drop_last and batch > 1 the order is cut to a multiple of
  // world x batch: every rank gets only full micro-batches of `batch` rows (PyTorch's
  // DistributedSampler(drop_last=True) with DataLoader(drop_last=True)), so the union of the ranks'
  // k-th batches is rows [k B W, (k + 1) B W) of the permutation: one process with batch B x W
  // (and the same cut) trains on exactly the same global batches (--data.drop-last).
  DistributedSampler(std::int64_t n, int world, int rank, std::uint64_t seed, bool shuffle = true,
                     bool drop_last = false, std::int64_t batch = 1);

  // This rank's rows in epoch `epoch`, in training order; always samples_per_rank() of them.
  std::vector<std::int64_t> indices(std::int64_t epoch) const;
  std::int64_t samples_per_rank() const { return per_rank_; }

 private:
  std::int64_t n_;
  int world_, rank_;
  std::uint64_t seed_;
  bool shuffle_, drop_last_;
  std::int64_t per_rank_;
};

}  // namespace hpct::data
