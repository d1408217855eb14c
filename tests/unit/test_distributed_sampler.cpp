#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <set>

#include "core/error.hpp"
#include "data/distributed_sampler.hpp"

using hpct::data::DistributedSampler;

TEST_CASE("DistributedSampler: drop_last shares are disjoint, equal and change with the epoch") {
  const std::int64_t n = 103;  // not divisible by 4
  const int world = 4;
  std::set<std::int64_t> seen;
  for (int r = 0; r < world; ++r) {
    const DistributedSampler s(n, world, r, 7, true, true);
    const auto idx = s.indices(3);
    CHECK(idx.size() == 25);  // floor(103 / 4)
    for (auto i : idx) {
      CHECK(i >= 0);
      CHECK(i < n);
      CHECK(seen.insert(i).second);  // no row on two ranks, none twice
    }
    CHECK(s.indices(4) != idx);
    CHECK(s.indices(3) == idx);  // deterministic
  }
  CHECK(seen.size() == 100);  // 3 rows dropped this epoch
}

TEST_CASE("DistributedSampler: padding covers every row with equal shares") {
  for (std::int64_t n : {std::int64_t{10}, std::int64_t{3}, std::int64_t{12}}) {
    CAPTURE(n);
    const int world = 4;
    std::map<std::int64_t, int> count;
    std::size_t len = 0;
    for (int r = 0; r < world; ++r) {
      const auto idx = DistributedSampler(n, world, r, 1).indices(0);
      len = r == 0 ? idx.size() : len;
      CHECK(idx.size() == len);
      for (auto i : idx) ++count[i];
    }
    CHECK(static_cast<std::int64_t>(len) == (n + world - 1) / world);
    CHECK(static_cast<std::int64_t>(count.size()) == n);  // every row used
    int repeats = 0;
    for (auto [row, c] : count) repeats += c - 1;
    CHECK(repeats == static_cast<int>(len) * world - n);  // only the padding repeats
  }
}

TEST_CASE("DistributedSampler: one rank without shuffling is the identity; world 1 is the plain permutation") {
  const auto idx = DistributedSampler(5, 1, 0, 1, false).indices(9);
  CHECK(idx == std::vector<std::int64_t>{0, 1, 2, 3, 4});
  CHECK(DistributedSampler(50, 1, 0, 3).indices(2) == hpct::data::epoch_permutation(50, 3, 2));
}

TEST_CASE("DistributedSampler: bad arguments are named") {
  CHECK_THROWS_WITH_AS(DistributedSampler(10, 2, 2, 1), doctest::Contains("rank 2"), hpct::Error);
  CHECK_THROWS_WITH_AS(DistributedSampler(3, 4, 0, 1, true, true), doctest::Contains("drop_last"), hpct::Error);
  CHECK_THROWS_AS(DistributedSampler(0, 1, 0, 1), hpct::Error);
}

TEST_CASE("DistributedSampler: drop_last with a batch keeps only full global batches, as one process would") {
  // 103 rows, 2 ranks x batch 8: 96 rows kept (6 micro-batches of 16), 48 per rank.
  const DistributedSampler r0(103, 2, 0, 5, true, true, 8), r1(103, 2, 1, 5, true, true, 8);
  const DistributedSampler one(103, 1, 0, 5, true, true, 16);
  CHECK(r0.samples_per_rank() == 48);
  CHECK(one.samples_per_rank() == 96);
  const auto a = r0.indices(2), b = r1.indices(2), all = one.indices(2);
  // Global micro-batch k: rank 0's and rank 1's k-th batches together are the single process's k-th.
  for (std::size_t k = 0; k < 6; ++k) {
    std::vector<std::int64_t> ranks(a.begin() + 8 * k, a.begin() + 8 * (k + 1));
    ranks.insert(ranks.end(), b.begin() + 8 * k, b.begin() + 8 * (k + 1));
    std::vector<std::int64_t> single(all.begin() + 16 * k, all.begin() + 16 * (k + 1));
    std::sort(ranks.begin(), ranks.end()), std::sort(single.begin(), single.end());
    CHECK(ranks == single);
  }
  CHECK_THROWS_WITH_AS(DistributedSampler(15, 2, 0, 1, true, true, 8), doctest::Contains("x 8 rows per batch"),
                       hpct::Error);
}
