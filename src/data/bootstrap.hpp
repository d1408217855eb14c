#pragma once
// Bootstrap resampling of training rows (--ensemble.bootstrap): n draws with replacement from the
// n rows, so each row appears Binomial(n, 1/n) times (about 63.2% of the rows at least once). An
// ensemble whose members train on independent resamples spreads like the estimator does over
// training sets, which is what an interval on its prediction must reflect.
#include <cstdint>
#include <vector>

namespace hpct::data {

// n row indices in [0, n), draw i = floor(u_i * n) with u_i Philox uniform (53 bits) under `seed` on
// a stream of its own: the same for the same seed on any machine, rank or thread count.
std::vector<std::int64_t> bootstrap_rows(std::int64_t n, std::uint64_t seed);

// The rows of [0, n) that `drawn` does not hold (out of bag, about n / e of them), ascending.
std::vector<std::int64_t> out_of_bag_rows(std::int64_t n, const std::vector<std::int64_t>& drawn);

}  // namespace hpct::data
