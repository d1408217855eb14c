#include "data/text_convert.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.hpp"

namespace hpct::data {

Dataset read_text(const std::string& path, std::int64_t seq_len) {
  HPCT_CHECK(seq_len >= 2, "option --seq-len: must be >= 2 (positions per row), got ", seq_len);
  const std::string where = "option --text " + path;
  std::error_code ec;
  HPCT_CHECK(!std::filesystem::is_directory(path, ec), where, ": is a directory, not a file");
  std::ifstream in(path, std::ios::binary);
  HPCT_CHECK(in.is_open(), where, ": cannot open: ", std::strerror(errno));
  // istream::read turns a failing read(2) into badbit (an istreambuf_iterator would throw instead).
  std::string bytes;
  std::array<char, 1 << 16> chunk;
  while (in.read(chunk.data(), chunk.size()) || in.gcount() > 0) bytes.append(chunk.data(), in.gcount());
  HPCT_CHECK(!in.bad(), where, ": read error after ", bytes.size(), " bytes");
  HPCT_CHECK(!bytes.empty(), where, ": is empty; there is no text to convert");
  HPCT_CHECK(bytes.size() >= 2, where, ": has a single byte; next-token data needs at least 2");

  const auto S = static_cast<std::int64_t>(bytes.size()), L = seq_len, inputs = S - 1;
  Dataset d;
  d.source = path;
  d.task = Task::classification;
  d.n = (inputs + L - 1) / L;
  d.seq_len = L;
  d.vocab_size = 256;
  d.num_classes = 256;
  d.token_targets = true;
  d.tokens.assign(static_cast<std::size_t>(d.n * L), 0);
  d.labels.assign(static_cast<std::size_t>(d.n * L), kIgnoreLabel);
  d.lengths.resize(static_cast<std::size_t>(d.n));
  const auto byte = [&](std::int64_t i) { return static_cast<std::int32_t>(static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)])); };
  for (std::int64_t r = 0; r < d.n; ++r) {
    const std::int64_t len = std::min(L, inputs - r * L);
    d.lengths[static_cast<std::size_t>(r)] = static_cast<std::int32_t>(len);
    for (std::int64_t i = 0; i < len; ++i) {
      d.tokens[static_cast<std::size_t>(r * L + i)] = byte(r * L + i);
      d.labels[static_cast<std::size_t>(r * L + i)] = byte(r * L + i + 1);
    }
  }
  return d;
}

}  // namespace hpct::data
