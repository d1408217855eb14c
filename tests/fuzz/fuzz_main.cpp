// libFuzzer entry of one target (HPCTRAIN_FUZZ_TARGET: config, csv, dataset or checkpoint).
#include <cstddef>
#include <cstdint>

#include "fuzz_entries.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  hpct::fuzz::run(HPCTRAIN_FUZZ_TARGET, data, size);
  return 0;
}
