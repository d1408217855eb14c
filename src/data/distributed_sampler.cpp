#include "data/distributed_sampler.hpp"

#include <numeric>
#include <random>

#include "core/error.hpp"

namespace hpct::data {

std::vector<std::int64_t> epoch_permutation(std::int64_t n, std::uint64_t seed, std::int64_t epoch) {
  std::vector<std::int64_t> p(n);
  std::iota(p.begin(), p.end(), 0);
  std::mt19937_64 gen(seed * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(epoch));
  for (std::int64_t i = n - 1; i > 0; --i) {
    const std::int64_t j = static_cast<std::int64_t>(gen() % static_cast<std::uint64_t>(i + 1));
    std::swap(p[i], p[j]);
  }
  return p;
}

DistributedSampler::DistributedSampler(std::int64_t n, int world, int rank, std::uint64_t seed, bool shuffle,
                                       bool drop_last, std::int64_t batch)
    : n_(n), world_(world), rank_(rank), seed_(seed), shuffle_(shuffle), drop_last_(drop_last) {
  HPCT_CHECK(n > 0, "sampler: the data set has no rows");
  HPCT_CHECK(world > 0 && rank >= 0 && rank < world, "sampler: rank ", rank, " is outside a world of ", world);
  HPCT_CHECK(batch > 0, "sampler: batch ", batch, " must be positive");
  per_rank_ = drop_last ? n / (world * batch) * batch : (n + world - 1) / world;
  HPCT_CHECK(per_rank_ > 0, "sampler: ", n, " rows are fewer than the ", world, " ranks x ", batch,
             " rows per batch, and drop_last leaves each rank none");
}

std::vector<std::int64_t> DistributedSampler::indices(std::int64_t epoch) const {
  std::vector<std::int64_t> all;
  if (shuffle_) {
    all = epoch_permutation(n_, seed_, epoch);
  } else {
    all.resize(n_);
    std::iota(all.begin(), all.end(), 0);
  }
  // Pad by repeating the order from its start (several times over when N < world), or cut.
  const std::int64_t total = per_rank_ * world_;
  for (std::int64_t i = n_; i < total; ++i) all.push_back(all[i % n_]);
  all.resize(total);
  std::vector<std::int64_t> mine;
  mine.reserve(per_rank_);
  for (std::int64_t i = rank_; i < total; i += world_) mine.push_back(all[i]);
  return mine;
}

}  // namespace hpct::data
