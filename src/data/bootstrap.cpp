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

}  // namespace hpct::data
