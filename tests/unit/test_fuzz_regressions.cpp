// The fuzz targets' seeds and every crash input the fuzzers found (tests/fuzz/regressions/TARGET/),
// replayed through the same code in every build: each must be read or rejected with an hpct::Error.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz_entries.hpp"

namespace fs = std::filesystem;

TEST_CASE("fuzz regressions: seeds and crash inputs are read or rejected by name") {
  int inputs = 0;
  for (const char* target : {"config", "csv", "dataset", "checkpoint"}) {
    for (const char* kind : {"corpus", "regressions"}) {
      const fs::path dir = fs::path(HPCTRAIN_FUZZ_DIR) / kind / target;
      if (!fs::exists(dir)) continue;
      for (const auto& entry : fs::directory_iterator(dir)) {
        std::ifstream in(entry.path(), std::ios::binary);
        const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        INFO(entry.path().string());
        CHECK_NOTHROW(hpct::fuzz::run(target, reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
        ++inputs;
      }
    }
  }
  CHECK(inputs >= 9);  // the seeds at least
}
