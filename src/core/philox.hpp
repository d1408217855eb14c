#pragma once
// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011): a
// counter-based generator. The output is a pure function of (key, counter), so element i of a
// dropout mask or of an initialisation is the same on any backend, thread count or rank, with no
// generator state to carry or checkpoint.
#include <cstdint>

#include "core/host_device.hpp"

namespace hpct {

struct U32x4 {
  std::uint32_t v[4];
};

HPCT_HD U32x4 philox4x32(std::uint64_t key, std::uint64_t counter_lo, std::uint64_t counter_hi) {
  constexpr std::uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;  // round multipliers
  constexpr std::uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;  // Weyl key increments
  std::uint32_t c0 = static_cast<std::uint32_t>(counter_lo), c1 = static_cast<std::uint32_t>(counter_lo >> 32);
  std::uint32_t c2 = static_cast<std::uint32_t>(counter_hi), c3 = static_cast<std::uint32_t>(counter_hi >> 32);
  std::uint32_t k0 = static_cast<std::uint32_t>(key), k1 = static_cast<std::uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    const std::uint64_t p0 = static_cast<std::uint64_t>(kM0) * c0;
    const std::uint64_t p1 = static_cast<std::uint64_t>(kM1) * c2;
    const std::uint32_t hi0 = static_cast<std::uint32_t>(p0 >> 32), lo0 = static_cast<std::uint32_t>(p0);
    const std::uint32_t hi1 = static_cast<std::uint32_t>(p1 >> 32), lo1 = static_cast<std::uint32_t>(p1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += kW0;
    k1 += kW1;
  }
  return {{c0, c1, c2, c3}};
}

// Uniform in [0, 1) with 24 random bits: exactly representable in float.
HPCT_HD float u32_to_uniform(std::uint32_t x) { return static_cast<float>(x >> 8) * (1.0f / 16777216.0f); }

// The uniform number for element `index` of stream `stream` under `seed`. Four consecutive elements
// share one Philox call (lanes of the same counter).
HPCT_HD float philox_uniform(std::uint64_t seed, std::uint64_t stream, std::uint64_t index) {
  const U32x4 r = philox4x32(seed, index / 4, stream);
  return u32_to_uniform(r.v[index % 4]);
}

}  // namespace hpct
