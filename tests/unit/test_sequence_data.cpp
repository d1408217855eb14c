// Sequence data: the HDF5 layouts (/tokens, /X [N, L, F], /lengths, per-token targets) through
// write and read, every bad-input message, padding, subset, the sequence generators and their rules,
// convert --text, and loader and batch assembly of sequence rows.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <fstream>
#include <string>
#include <vector>

#include "data/dataset.hpp"
#include "data/distributed_sampler.hpp"
#include "data/generators.hpp"
#include "data/hdf5.hpp"
#include "data/loader.hpp"
#include "data/row_source.hpp"
#include "data/text_convert.hpp"
#include "kernels/kernels.hpp"
#include "nn_test_support.hpp"
#include "test_support.hpp"
#include "train/batch.hpp"
#include "train/standardize.hpp"

using namespace hpct;
using namespace hpct::data;
using hpct::test::check_error;
using hpct::test::TempDir;

namespace {

void check_same(const Dataset& a, const Dataset& b) {
  CHECK(a.task == b.task);
  CHECK(a.n == b.n);
  CHECK(a.seq_len == b.seq_len);
  CHECK(a.features == b.features);
  CHECK(a.vocab_size == b.vocab_size);
  CHECK(a.targets == b.targets);
  CHECK(a.num_classes == b.num_classes);
  CHECK(a.token_targets == b.token_targets);
  CHECK(a.x == b.x);
  CHECK(a.tokens == b.tokens);
  CHECK(a.lengths == b.lengths);
  CHECK(a.y == b.y);
  CHECK(a.labels == b.labels);
}

// 4 rows of L = 5 tokens (vocab 7) with lengths 5, 3, 1, 4 and per-token labels (3 classes, -1 at
// padding), written raw so each test can spoil one part.
struct Raw {
  std::vector<std::int32_t> tokens = {1, 2, 3, 4, 5, 6, 0, 1, 0, 0, 2, 0, 0, 0, 0, 3, 3, 3, 3, 0};
  std::vector<std::int32_t> lengths = {5, 3, 1, 4};
  std::vector<std::int32_t> labels = {0, 1, 2, 0, 1, 2, 0, 1, -1, -1, 2, -1, -1, -1, -1, 0, 0, -1, 1, -1};
  std::int64_t vocab = 7;
  bool write_vocab = true, write_lengths = true;

  // custom_lengths, when given, writes /lengths in place of `lengths`.
  void write(const std::string& path, const std::function<void(h5::File&)>& custom_lengths = {}) const {
    h5::File f = h5::File::create(path);
    h5::write(f, "/tokens", {4, 5}, tokens);
    if (write_vocab) h5::write_attr(f, "/", "vocab_size", vocab);
    if (custom_lengths)
      custom_lengths(f);
    else if (write_lengths)
      h5::write(f, "/lengths", {static_cast<std::int64_t>(lengths.size())}, lengths);
    h5::write(f, "/y", {4, 5}, labels);
    h5::write_attr(f, "/", "num_classes", std::int64_t{3});
    f.close();
  }
};

std::vector<float> floats(std::size_t n) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = 0.25f * static_cast<float>(i) - 1.0f;
  return v;
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

}  // namespace

TEST_CASE("sequence layouts round trip through write_dataset and read_dataset") {
  TempDir tmp;
  SUBCASE("seq-window tokens: per-token labels, lengths") {
    const Dataset d = generate({.kind = "seq-window", .n = 50, .seed = 3});
    write_dataset(tmp.file("w.h5"), d);
    const Dataset r = read_dataset(tmp.file("w.h5"));
    CHECK(r.max_length() == 64);
    CHECK(r.vocab_size == 20);
    CHECK(r.features == 0);
    CHECK(r.token_targets);
    check_same(d, r);
    const h5::File f = h5::File::open_read(tmp.file("w.h5"));
    CHECK(h5::read_string_attr(f, "/", "target_level") == "token");
  }
  SUBCASE("seq-window one-hot: /X [N, L, F]") {
    const Dataset d = generate({.kind = "seq-window", .n = 20, .seed = 3, .seq_len = 12, .encoding = "onehot"});
    write_dataset(tmp.file("o.h5"), d);
    const Dataset r = read_dataset(tmp.file("o.h5"));
    CHECK(r.seq_len == 12);
    CHECK(r.features == 20);
    CHECK(r.row_width() == 240);
    CHECK(!r.has_tokens());
    check_same(d, r);
    const h5::File f = h5::File::open_read(tmp.file("o.h5"));
    CHECK(h5::dataset_info(f, "/X").shape == std::vector<std::int64_t>{20, 12, 20});
  }
  SUBCASE("seq-sum: tokens with a per-sequence target") {
    const Dataset d = generate({.kind = "seq-sum", .n = 30, .seed = 2, .seq_len = 16});
    write_dataset(tmp.file("s.h5"), d);
    const Dataset r = read_dataset(tmp.file("s.h5"));
    CHECK(!r.token_targets);
    CHECK(r.target_positions() == 1);
    check_same(d, r);
  }
  SUBCASE("per-position features, per-token regression with 2 targets, no lengths") {
    Dataset d;
    d.n = 3;
    d.seq_len = 4;
    d.features = 2;
    d.targets = 2;
    d.token_targets = true;
    d.x = floats(24);
    d.y = floats(24);
    write_dataset(tmp.file("r.h5"), d);
    const Dataset r = read_dataset(tmp.file("r.h5"));
    check_same(d, r);
    CHECK(r.length(2) == 4);
    const h5::File f = h5::File::open_read(tmp.file("r.h5"));
    CHECK(h5::dataset_info(f, "/y").shape == std::vector<std::int64_t>{3, 4, 2});
    CHECK(!h5::exists(f, "/lengths"));
  }
}

TEST_CASE("target level: the attribute, and inference when it is absent") {
  TempDir tmp;
  const std::string p = tmp.file("t.h5");
  auto write = [&](const std::vector<std::int64_t>& y_shape, const char* level) {
    h5::File f = h5::File::create(p);
    h5::write(f, "/X", {3, 4, 2}, floats(24));
    std::int64_t size = 1;
    for (auto s : y_shape) size *= s;
    h5::write(f, "/y", y_shape, floats(static_cast<std::size_t>(size)));
    if (level) h5::write_attr(f, "/", "target_level", level);
    f.close();
  };
  write({3, 4}, nullptr);  // [N, L] on sequences: per token
  CHECK(read_dataset(p).token_targets);
  write({3, 4}, "sequence");  // ... unless the file says 4 targets per row
  CHECK(!read_dataset(p).token_targets);
  CHECK(read_dataset(p).targets == 4);
  write({3, 5}, nullptr);  // [N, T] with T != L: per row
  CHECK(!read_dataset(p).token_targets);
  write({3}, nullptr);
  CHECK(!read_dataset(p).token_targets);
  write({3, 4, 3}, nullptr);
  CHECK(read_dataset(p).targets == 3);
  write({3, 4}, "residue");
  check_error([&] { read_dataset(p); }, {p, "target_level", "'residue'", "sequence or token"});
  write({3, 5}, "token");
  check_error([&] { read_dataset(p); }, {p, "/y", "5 positions", "L = 4"});
  {
    h5::File f = h5::File::create(p);
    h5::write(f, "/X", {3, 2}, floats(6));
    h5::write(f, "/y", {3, 2}, floats(6));
    h5::write_attr(f, "/", "target_level", "token");
    f.close();
  }
  check_error([&] { read_dataset(p); }, {p, "target_level is 'token'", "not sequences"});
}

TEST_CASE("padding positions may hold anything and read as 0 (inputs) and -1 (labels)") {
  TempDir tmp;
  const std::string p = tmp.file("pad.h5");
  Raw raw;
  raw.tokens[8] = 999;  // row 1 position 3, beyond length 3
  raw.tokens[11] = -4;
  raw.labels[9] = 77;
  raw.write(p);
  const Dataset d = read_dataset(p);
  CHECK(d.tokens[8] == 0);
  CHECK(d.tokens[11] == 0);
  CHECK(d.labels[9] == kIgnoreLabel);
  CHECK(d.labels[17] == kIgnoreLabel);  // -1 at a valid position: no label, allowed
  CHECK(d.num_classes == 3);

  std::vector<float> x = floats(3 * 4 * 2);
  x[1 * 8 + 3 * 2 + 1] = std::nanf("");  // row 1 position 3 column 1: padding
  {
    h5::File f = h5::File::create(p);
    h5::write(f, "/X", {3, 4, 2}, x);
    h5::write(f, "/lengths", {3}, std::vector<std::int32_t>{4, 3, 4});
    h5::write(f, "/y", {3, 4}, floats(12));
    f.close();
  }
  const Dataset e = read_dataset(p);
  CHECK(e.x[1 * 8 + 3 * 2 + 1] == 0.0f);
  CHECK(e.y[1 * 4 + 3] == 0.0f);
}

TEST_CASE("sequence bad input: every error names the file, dataset, row, position and value") {
  TempDir tmp;
  const std::string p = tmp.file("bad.h5");
  Raw raw;
  SUBCASE("token id beyond the vocabulary") {
    raw.tokens[7] = 7;  // row 1 position 2
    raw.write(p);
    check_error([&] { read_dataset(p); }, {p, "/tokens row 1 position 2", "token id 7", "[0, 7)", "vocab_size"});
  }
  SUBCASE("negative token id") {
    raw.tokens[15] = -1;
    raw.write(p);
    check_error([&] { read_dataset(p); }, {p, "/tokens row 3 position 0", "token id -1"});
  }
  SUBCASE("no vocab_size") {
    raw.write_vocab = false;
    raw.write(p);
    check_error([&] { read_dataset(p); }, {p, "/tokens", "vocab_size"});
  }
  SUBCASE("vocab_size 0") {
    raw.vocab = 0;
    raw.write(p);
    check_error([&] { read_dataset(p); }, {p, "vocab_size is 0"});
  }
  SUBCASE("length 0") {
    raw.lengths[2] = 0;
    raw.write(p);
    check_error([&] { read_dataset(p); }, {p, "/lengths row 2 is 0", "[1, 5]"});
  }
  SUBCASE("length beyond L") {
    raw.lengths[3] = 6;
    raw.write(p);
    check_error([&] { read_dataset(p); }, {p, "/lengths row 3 is 6", "[1, 5]", "/tokens"});
  }
  SUBCASE("lengths with the wrong number of rows") {
    raw.lengths.pop_back();
    raw.write(p);
    check_error([&] { read_dataset(p); }, {p, "/lengths has 3 rows", "/tokens has 4"});
  }
  SUBCASE("lengths of the wrong type or rank") {
    raw.write(p, [](h5::File& f) { h5::write(f, "/lengths", {4}, std::vector<float>{5, 3, 1, 4}); });
    check_error([&] { read_dataset(p); }, {p, "dataset /lengths: expected integers [N], found float"});
    raw.write(p, [](h5::File& f) { h5::write(f, "/lengths", {4, 1}, std::vector<std::int32_t>{5, 3, 1, 4}); });
    check_error([&] { read_dataset(p); }, {p, "dataset /lengths: expected integers [N], found integer"});
  }
  SUBCASE("lengths on tabular data") {
    {
      h5::File f = h5::File::create(p);
      h5::write(f, "/X", {4, 2}, floats(8));
      h5::write(f, "/y", {4}, floats(4));
      h5::write(f, "/lengths", {4}, std::vector<std::int32_t>{1, 1, 1, 1});
      f.close();
    }
    check_error([&] { read_dataset(p); }, {p, "/lengths", "[N, F]"});
  }
  SUBCASE("per-token label beyond num_classes") {
    raw.labels[6] = 3;  // row 1 position 1
    raw.write(p);
    check_error([&] { read_dataset(p); }, {p, "/y row 1 position 1 is label 3", "num_classes is 3"});
  }
  SUBCASE("per-token label below -1") {
    raw.labels[16] = -2;
    raw.write(p);
    check_error([&] { read_dataset(p); }, {p, "/y row 3 position 1 is label -2", "-1: no label"});
  }
  SUBCASE("both /X and /tokens") {
    raw.write(p);
    {
      h5::File f = h5::File::create(tmp.file("both.h5"));
      h5::write(f, "/tokens", {4, 5}, raw.tokens);
      h5::write_attr(f, "/", "vocab_size", std::int64_t{7});
      h5::write(f, "/X", {4, 2}, floats(8));
      h5::write(f, "/y", {4}, floats(4));
      f.close();
    }
    check_error([&] { read_dataset(tmp.file("both.h5")); }, {tmp.file("both.h5"), "both /X and /tokens"});
  }
  SUBCASE("float token ids") {
    {
      h5::File f = h5::File::create(p);
      h5::write(f, "/tokens", {2, 2}, floats(4));
      h5::write_attr(f, "/", "vocab_size", std::int64_t{7});
      h5::write(f, "/y", {2}, floats(2));
      f.close();
    }
    check_error([&] { read_dataset(p); }, {p, "/tokens", "integer token ids", "float"});
  }
  SUBCASE("/y rows disagree with /tokens") {
    {
      h5::File f = h5::File::create(p);
      h5::write(f, "/tokens", {4, 5}, raw.tokens);
      h5::write_attr(f, "/", "vocab_size", std::int64_t{7});
      h5::write(f, "/y", {3}, floats(3));
      f.close();
    }
    check_error([&] { read_dataset(p); }, {p, "/y has 3 rows but /tokens has 4"});
  }
  SUBCASE("NaN in per-position features at a valid position") {
    std::vector<float> x = floats(24);
    x[1 * 8 + 0 * 2 + 1] = std::nanf("");
    {
      h5::File f = h5::File::create(p);
      h5::write(f, "/X", {3, 4, 2}, x);
      h5::write(f, "/y", {3}, floats(3));
      f.close();
    }
    check_error([&] { read_dataset(p); }, {p, "/X row 1 position 0 column 1 is NaN"});
  }
  SUBCASE("Inf in a per-token target") {
    std::vector<float> y = floats(12);
    y[2 * 4 + 3] = INFINITY;
    {
      h5::File f = h5::File::create(p);
      h5::write(f, "/X", {3, 4, 2}, floats(24));
      h5::write(f, "/y", {3, 4}, y);
      f.close();
    }
    check_error([&] { read_dataset(p); }, {p, "/y row 2 position 3 is Inf"});
  }
  SUBCASE("write_dataset refuses a token beyond the vocabulary and a bad length") {
    Dataset d = generate({.kind = "seq-window", .n = 4, .seed = 1, .seq_len = 8});
    d.tokens[0] = 20;
    check_error([&] { write_dataset(p, d); }, {p, "/tokens row 0 position 0", "token id 20"});
    d.tokens[0] = 0;
    d.lengths[1] = 9;
    check_error([&] { write_dataset(p, d); }, {p, "/lengths row 1 is 9"});
    CHECK(!std::filesystem::exists(p));
  }
}

TEST_CASE("Dataset::subset keeps tokens, lengths, per-token targets and sequence fields") {
  const Dataset d = generate({.kind = "seq-window", .n = 10, .seed = 5, .seq_len = 8});
  const Dataset s = d.subset({7, 2, 2});
  REQUIRE(s.n == 3);
  CHECK(s.seq_len == 8);
  CHECK(s.vocab_size == 20);
  CHECK(s.num_classes == 3);
  CHECK(s.token_targets);
  REQUIRE(s.tokens.size() == 24);
  REQUIRE(s.labels.size() == 24);
  CHECK(s.lengths == std::vector<std::int32_t>{d.lengths[7], d.lengths[2], d.lengths[2]});
  for (int i = 0; i < 8; ++i) {
    CHECK(s.tokens[i] == d.tokens[7 * 8 + i]);
    CHECK(s.tokens[16 + i] == d.tokens[2 * 8 + i]);
    CHECK(s.labels[8 + i] == d.labels[2 * 8 + i]);
  }
  const Dataset o = generate({.kind = "seq-sum", .n = 10, .seed = 5, .seq_len = 8, .encoding = "onehot"});
  const Dataset t = o.subset({9});
  REQUIRE(t.x.size() == 8 * 20);
  CHECK(std::equal(t.x.begin(), t.x.end(), o.x.begin() + 9 * 160));
  CHECK(t.y == std::vector<float>{o.y[9]});
}

TEST_CASE("sequence generators: deterministic in the seed, and the documented rules hold") {
  for (const char* kind : {"seq-window", "seq-sum"}) {
    CAPTURE(kind);
    const GeneratorOptions o{.kind = kind, .n = 300, .seed = 4};
    const Dataset a = generate(o), b = generate(o);
    CHECK(a.tokens == b.tokens);
    CHECK(a.lengths == b.lengths);
    CHECK(a.labels == b.labels);
    CHECK(a.y == b.y);
    GeneratorOptions other = o;
    other.seed = 5;
    CHECK(generate(other).tokens != a.tokens);
    const std::int64_t L = a.seq_len;
    REQUIRE(L == 64);
    const auto [lo, hi] = std::minmax_element(a.lengths.begin(), a.lengths.end());
    CHECK(*lo == 16);  // 300 draws of 49 lengths reach both ends
    CHECK(*hi == 64);
    for (std::int64_t r = 0; r < a.n; ++r) {
      const std::int64_t len = a.length(r);
      const std::int32_t* t = a.tokens.data() + r * L;
      for (std::int64_t i = 0; i < L; ++i) {
        if (i >= len) {
          CHECK(t[i] == 0);
          continue;
        }
        REQUIRE(t[i] >= 0);
        REQUIRE(t[i] < 20);
        if (a.token_targets) {  // seq-window: recompute the label from the window
          const int left = i > 0 ? t[i - 1] : 0, right = i + 1 < len ? t[i + 1] : 0;
          REQUIRE(a.labels[r * L + i] == (left + 2 * t[i] + right) % 3);
        }
      }
      if (a.token_targets) {
        for (std::int64_t i = len; i < L; ++i) REQUIRE(a.labels[r * L + i] == kIgnoreLabel);
      } else {  // seq-sum
        double sum = 0;
        for (std::int64_t i = 0; i < len; ++i) sum += std::cos(static_cast<double>(t[i]));
        REQUIRE(a.y[r] == doctest::Approx(sum / static_cast<double>(len)).epsilon(1e-6));
      }
    }
    // One-hot: the same tokens as float rows.
    GeneratorOptions hot = o;
    hot.encoding = "onehot";
    const Dataset h = generate(hot);
    CHECK(h.tokens.empty());
    CHECK(h.features == 20);
    CHECK(h.labels == a.labels);
    CHECK(h.y == a.y);
    for (std::int64_t r = 0; r < 5; ++r)
      for (std::int64_t i = 0; i < L; ++i)
        for (std::int64_t v = 0; v < 20; ++v)
          REQUIRE(h.x[(r * L + i) * 20 + v] == (i < a.length(r) && a.tokens[r * L + i] == v ? 1.0f : 0.0f));
  }
  const Dataset small = generate({.kind = "seq-window", .n = 3, .seed = 1, .seq_len = 9, .vocab_size = 4});
  CHECK(small.seq_len == 9);
  CHECK(small.vocab_size == 4);
  CHECK(*std::min_element(small.lengths.begin(), small.lengths.end()) >= 3);  // ceil(9 / 4)
  check_error([] { generate({.kind = "seq-window", .n = 3, .seq_len = 1}); }, {"seq-window", "seq-len", "got 1"});
  check_error([] { generate({.kind = "seq-window", .n = 3, .vocab_size = 1}); }, {"vocab", "got 1"});
  check_error([] { generate({.kind = "seq-sum", .n = 3, .encoding = "bytes"}); }, {"encoding 'bytes'", "onehot"});
  check_error([] { generate({.kind = "seq-sum", .n = 3, .features = 4}); }, {"features", "sequences"});
  check_error([] { generate({.kind = "physics19", .n = 3, .encoding = "onehot"}); }, {"physics19", "onehot"});
}

TEST_CASE("convert --text: bytes to next-byte token rows, and its errors") {
  TempDir tmp;
  std::string bytes;
  for (int i = 0; i < 600; ++i) bytes += static_cast<char>((i * 37 + i / 256) % 256);  // every byte value
  write_bytes(tmp.file("t.bin"), bytes);
  const Dataset d = read_text(tmp.file("t.bin"), 16);
  CHECK(d.n == (599 + 15) / 16);  // 599 inputs: 37 full rows and one of 7
  CHECK(d.lengths.back() == 599 - 37 * 16);
  CHECK(d.vocab_size == 256);
  CHECK(d.num_classes == 256);
  CHECK(d.task == Task::classification);
  CHECK(d.token_targets);
  write_dataset(tmp.file("t.h5"), d);
  const Dataset r = read_dataset(tmp.file("t.h5"));
  check_same(d, r);
  // The valid tokens, then the last label, reproduce the file; each label is the next byte.
  std::string back;
  std::int64_t last = 0;
  for (std::int64_t row = 0; row < r.n; ++row)
    for (std::int64_t i = 0; i < r.length(row); ++i) {
      back += static_cast<char>(r.tokens[row * 16 + i]);
      last = r.labels[row * 16 + i];
      REQUIRE(last == static_cast<unsigned char>(bytes[back.size()]));
    }
  back += static_cast<char>(last);
  CHECK(back == bytes);

  write_bytes(tmp.file("two.txt"), "ab");
  const Dataset two = read_text(tmp.file("two.txt"), 2);
  CHECK(two.n == 1);
  CHECK(two.lengths == std::vector<std::int32_t>{1});
  CHECK(two.tokens[0] == 'a');
  CHECK(two.labels == std::vector<std::int32_t>{'b', kIgnoreLabel});

  write_bytes(tmp.file("empty.txt"), "");
  check_error([&] { read_text(tmp.file("empty.txt"), 8); }, {tmp.file("empty.txt"), "is empty"});
  write_bytes(tmp.file("one.txt"), "x");
  check_error([&] { read_text(tmp.file("one.txt"), 8); }, {tmp.file("one.txt"), "single byte"});
  check_error([&] { read_text(tmp.file("missing.txt"), 8); }, {tmp.file("missing.txt"), "cannot open"});
  check_error([&] { read_text(tmp.dir.string(), 8); }, {"option --text", tmp.dir.string(), "directory"});
  // A file that opens but cannot be read (permission bits cannot show it: tests may run as root):
  // reading /proc/self/mem at offset 0 fails with EIO.
  check_error([&] { read_text("/proc/self/mem", 8); }, {"option --text /proc/self/mem", "read error after 0 bytes"});
  check_error([&] { read_text(tmp.file("t.bin"), 1); }, {"--seq-len", "got 1"});
}

TEST_CASE("Loader batches of sequence rows match the sampler's rows, for 0 and 2 workers") {
  const Dataset d = generate({.kind = "seq-window", .n = 37, .seed = 6, .seq_len = 10});
  const Dataset hot = generate({.kind = "seq-sum", .n = 37, .seed = 6, .seq_len = 10, .encoding = "onehot"});
  const DistributedSampler sampler(d.n, 2, 0, 3);  // rank 0 of 2: 19 rows an epoch
  const std::int64_t L = 10;
  for (int workers : {0, 2}) {
    CAPTURE(workers);
    const MemoryRows rows(d), hot_rows(hot);
    CHECK(rows.width() == 0);
    CHECK(hot_rows.width() == 200);
    Loader loader(d, rows, [&](std::int64_t e) { return sampler.indices(e); }, sampler.samples_per_rank(),
                  {4, 2, workers, 0});
    Loader hot_loader(hot, hot_rows, [&](std::int64_t e) { return sampler.indices(e); }, sampler.samples_per_rank(),
                      {4, 2, workers, 0});
    for (std::int64_t epoch = 1; epoch <= 2; ++epoch) {
      const std::vector<std::int64_t> order = sampler.indices(epoch);
      for (std::int64_t b = 0; b < loader.batches_per_epoch(); ++b) {
        const HostBatch& batch = loader.next();
        REQUIRE(batch.rows == std::min<std::int64_t>(4, 19 - b * 4));
        CHECK(batch.seq_len == L);
        CHECK(batch.token_targets);
        CHECK(batch.x.empty());
        REQUIRE(batch.tokens.size() == static_cast<std::size_t>(batch.rows * L));
        REQUIRE(batch.labels.size() == static_cast<std::size_t>(batch.rows * L));
        REQUIRE(batch.lengths.size() == static_cast<std::size_t>(batch.rows));
        for (std::int64_t i = 0; i < batch.rows; ++i) {
          const std::int64_t r = order[b * 4 + i];
          CHECK(batch.lengths[i] == d.lengths[r]);
          CHECK(std::equal(batch.tokens.begin() + i * L, batch.tokens.begin() + (i + 1) * L, d.tokens.begin() + r * L));
          CHECK(std::equal(batch.labels.begin() + i * L, batch.labels.begin() + (i + 1) * L, d.labels.begin() + r * L));
        }
        const HostBatch& h = hot_loader.next();
        CHECK(h.tokens.empty());
        CHECK(!h.token_targets);
        REQUIRE(h.x.size() == static_cast<std::size_t>(h.rows * L * 20));
        for (std::int64_t i = 0; i < h.rows; ++i) {
          const std::int64_t r = order[b * 4 + i];
          CHECK(h.lengths[i] == hot.lengths[r]);
          CHECK(h.y[i] == hot.y[r]);
          CHECK(std::equal(h.x.begin() + i * L * 20, h.x.begin() + (i + 1) * L * 20, hot.x.begin() + r * L * 20));
        }
      }
    }
  }
}

TEST_CASE("BatchAssembler shapes for sequence data: gather and upload agree") {
  kernels::Backend& be = test::test_backend();
  const Dataset d = generate({.kind = "seq-window", .n = 12, .seed = 2, .seq_len = 6});
  const std::vector<std::int64_t> index = {5, 0, 11};
  train::BatchAssembler a(be, DType::f32);
  a.gather(d, index.data(), 3);
  CHECK(a.x().empty());
  REQUIRE(a.tokens().shape == Shape{3, 6});
  REQUIRE(a.target().shape == Shape{3, 6});
  CHECK(a.target().dtype == DType::i32);
  const std::vector<std::int32_t> lengths = be.read<std::int32_t>(a.lengths());
  CHECK(lengths == std::vector<std::int32_t>{d.lengths[5], d.lengths[0], d.lengths[11]});
  const std::vector<std::int32_t> tok = be.read<std::int32_t>(a.tokens()), lab = be.read<std::int32_t>(a.target());
  for (int i = 0; i < 6; ++i) {
    CHECK(tok[i] == d.tokens[5 * 6 + i]);
    CHECK(tok[12 + i] == d.tokens[11 * 6 + i]);
    CHECK(lab[6 + i] == d.labels[i]);
  }

  const MemoryRows rows(d);
  Loader loader(d, rows, [](std::int64_t) { return std::vector<std::int64_t>{5, 0, 11}; }, 3, {3, 1, 0, 0});
  train::BatchAssembler u(be, DType::f32);
  u.upload(loader.next(), rows.width());
  CHECK(u.x().empty());
  REQUIRE(u.tokens().shape == Shape{3, 6});
  CHECK(be.read<std::int32_t>(u.tokens()) == tok);
  CHECK(be.read<std::int32_t>(u.target()) == lab);
  CHECK(be.read<std::int32_t>(u.lengths()) == lengths);

  // Per-position floats with per-token regression targets: x [rows, L, F], y [rows, L, T].
  Dataset f;
  f.source = "floats";
  f.n = 4;
  f.seq_len = 3;
  f.features = 2;
  f.targets = 2;
  f.token_targets = true;
  f.x = floats(24);
  f.y = floats(24);
  a.gather(f, index.data() + 1, 1);  // row 0
  CHECK(a.x().shape == Shape{1, 3, 2});
  CHECK(a.target().shape == Shape{1, 3, 2});
  CHECK(a.tokens().empty());
  CHECK(be.read<std::int32_t>(a.lengths()) == std::vector<std::int32_t>{3});
  CHECK(be.read<float>(a.x())[5] == f.x[5]);
}

TEST_CASE("standardisation leaves sequence inputs and per-token targets alone") {
  const Dataset w = generate({.kind = "seq-window", .n = 40, .seed = 1, .encoding = "onehot"});
  const train::Standardization sw = train::fit_standardization(w, true);
  CHECK(sw.x_mean.empty());
  CHECK(sw.y_mean.empty());
  const Dataset s = generate({.kind = "seq-sum", .n = 40, .seed = 1});
  Dataset copy = s;
  const train::Standardization ss = train::fit_standardization(s, true);
  CHECK(ss.x_mean.empty());
  REQUIRE(ss.y_mean.size() == 1);  // per-row regression targets: as for tabular data
  train::apply_standardization(ss, copy);
  CHECK(copy.tokens == s.tokens);
  CHECK(copy.y[0] == doctest::Approx((s.y[0] - ss.y_mean[0]) / ss.y_std[0]));
}
