#include "data/bootstrap.hpp"

#include "core/error.hpp"
#include "core/philox.hpp"

namespace hpct::data {

std::vector<std::int64_t> bootstrap_rows(std::int64_t n, std::uint64_t seed) {
  HPCT_CHECK(n > 0, "bootstrap: no rows to resample");
  // counter_hi tags the stream so bootstrap draws never coincide with dropout or init streams.
  constexpr std::uint64_t kBootstrapStream = 0xB0075u;
  std::vector<std::int64_t> rows(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    const U32x4 r = philox4x32(seed, static_cast<std::uint64_t>(i), kBootstrapStream);
    const std::uint64_t bits = (static_cast<std::uint64_t>(r.v[0]) << 21) ^ (r.v[1] >> 11);  // 53 bits
    const double u = static_cast<double>(bits) * 0x1p-53;
    rows[static_cast<std::size_t>(i)] = std::min<std::int64_t>(static_cast<std::int64_t>(u * static_cast<double>(n)), n - 1);
  }
  return rows;
}

std::vector<std::int64_t> out_of_bag_rows(std::int64_t n, const std::vector<std::int64_t>& drawn) {
  std::vector<char> in_bag(static_cast<std::size_t>(n), 0);
  for (std::int64_t r : drawn) in_bag[static_cast<std::size_t>(r)] = 1;
  std::vector<std::int64_t> out;
  for (std::int64_t r = 0; r < n; ++r)
    if (!in_bag[static_cast<std::size_t>(r)]) out.push_back(r);
  return out;
}

}  // namespace hpct::data
