// The prefetching loader and the row sources it reads from: batches in schedule order with the
// right rows and targets for any number of worker threads, streamed HDF5 rows equal to in-memory
// ones, only this rank's rows ever read, worker errors surfacing in next(), and streamed
// standardisation statistics equal to in-memory ones.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <set>
#include <vector>

#include "data/dataset.hpp"
#include "data/distributed_sampler.hpp"
#include "data/generators.hpp"
#include "data/hdf5.hpp"
#include "data/loader.hpp"
#include "data/row_source.hpp"
#include "test_support.hpp"
#include "train/standardize.hpp"

using namespace hpct;
using namespace hpct::data;
using hpct::test::TempDir;

namespace {

// n rows, 3 features: x[r] = (r, -r, 0.5 r), y[r] = 10 r (regression), or label r % 4.
Dataset numbered(std::int64_t n, Task task = Task::regression) {
  Dataset d;
  d.source = "numbered";
  d.task = task;
  d.n = n;
  d.features = 3;
  for (std::int64_t r = 0; r < n; ++r) {
    d.x.insert(d.x.end(), {static_cast<float>(r), static_cast<float>(-r), 0.5f * static_cast<float>(r)});
    if (task == Task::classification)
      d.labels.push_back(static_cast<std::int32_t>(r % 4));
    else
      d.y.push_back(10.0f * static_cast<float>(r));
  }
  d.num_classes = task == Task::classification ? 4 : 0;
  return d;
}

// Records every row a loader asks for, then reads from memory.
class RecordingRows final : public RowSource {
 public:
  explicit RecordingRows(const Dataset& d) : inner_(d), n_(d.n) {}
  std::int64_t rows() const override { return n_; }
  std::int64_t width() const override { return inner_.width(); }
  void read(const std::int64_t* rows, std::int64_t n, float* out) const override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      seen_.insert(rows, rows + n);
    }
    inner_.read(rows, n, out);
  }
  std::set<std::int64_t> seen() const { return seen_; }

 private:
  MemoryRows inner_;
  std::int64_t n_;
  mutable std::mutex mu_;
  mutable std::set<std::int64_t> seen_;
};

}  // namespace

TEST_CASE("Loader hands out the sampler's batches in order, across epochs, for any worker count") {
  for (Task task : {Task::regression, Task::classification}) {
    const Dataset d = numbered(103, task);
    const MemoryRows rows(d);
    const DistributedSampler sampler(d.n, 2, 1, 7);  // rank 1 of 2: 52 rows an epoch
    for (int workers : {0, 1, 3}) {
      CAPTURE(workers);
      Loader loader(d, rows, [&](std::int64_t e) { return sampler.indices(e); }, sampler.samples_per_rank(),
                    {10, 3, workers, 0});
      REQUIRE(loader.batches_per_epoch() == 6);  // 5 of 10 rows and one of 2
      for (std::int64_t epoch = 1; epoch <= 3; ++epoch) {
        const std::vector<std::int64_t> order = sampler.indices(epoch);
        for (std::int64_t b = 0; b < 6; ++b) {
          const HostBatch& batch = loader.next();
          CHECK(batch.epoch == epoch);
          CHECK(batch.index == b);
          REQUIRE(batch.rows == std::min<std::int64_t>(10, 52 - b * 10));
          for (std::int64_t i = 0; i < batch.rows; ++i) {
            const std::int64_t r = order[b * 10 + i];
            CHECK(batch.x[i * 3 + 1] == static_cast<float>(-r));
            if (task == Task::classification)
              CHECK(batch.labels[i] == r % 4);
            else
              CHECK(batch.y[i] == 10.0f * static_cast<float>(r));
          }
        }
      }
      hpct::test::check_error([&] { loader.next(); }, {"all 18 batches"});
    }
  }
}

TEST_CASE("Loader reads only this rank's rows") {
  const Dataset d = numbered(50);
  for (int rank : {0, 1, 2}) {
    const RecordingRows rows(d);
    const DistributedSampler sampler(d.n, 3, rank, 5);
    {
      Loader loader(d, rows, [&](std::int64_t e) { return sampler.indices(e); }, sampler.samples_per_rank(),
                    {4, 2, 2, 0});
      for (std::int64_t i = 0; i < 2 * loader.batches_per_epoch(); ++i) loader.next();
    }
    std::set<std::int64_t> mine;
    for (std::int64_t e : {1, 2})
      for (std::int64_t r : sampler.indices(e)) mine.insert(r);
    CHECK(rows.seen() == mine);
    CHECK(rows.seen().size() < 50);
  }
}

TEST_CASE("Loader stopped early joins its workers; an error in a worker surfaces in next()") {
  const Dataset d = numbered(40);
  const MemoryRows rows(d);
  {
    Loader loader(d, rows, [](std::int64_t) { return std::vector<std::int64_t>(40, 0); }, 40, {4, 100, 2, 0});
    loader.next();
  }  // the destructor stops two workers blocked on a full ring
  Loader bad(d, rows, [](std::int64_t e) { return std::vector<std::int64_t>(40, e == 2 ? 99 : 0); }, 40,
             {8, 2, 2, 0});
  for (int i = 0; i < 5; ++i) bad.next();  // epoch 1 is fine
  hpct::test::check_error([&] { bad.next(); }, {"numbered", "row index 99"});
}

TEST_CASE("Hdf5Rows reads rows in any order, with repeats, as in memory; NaN rows are named") {
  TempDir tmp;
  Dataset d = generate({.kind = "physics19", .n = 300, .seed = 3});
  write_dataset(tmp.file("d.h5"), d);
  std::vector<std::int64_t> file_rows;  // a subset of the file's rows, as a training split
  for (std::int64_t r = 299; r >= 0; r -= 3) file_rows.push_back(r);
  const Hdf5Rows rows(tmp.file("d.h5"), file_rows);
  CHECK(rows.rows() == 100);
  CHECK(rows.width() == 19);
  const std::vector<std::int64_t> want = {5, 6, 7, 0, 99, 7, 50, 51, 5};
  std::vector<float> got(want.size() * 19);
  rows.read(want.data(), static_cast<std::int64_t>(want.size()), got.data());
  for (std::size_t i = 0; i < want.size(); ++i)
    for (int c = 0; c < 19; ++c) CHECK(got[i * 19 + c] == d.x[file_rows[want[i]] * 19 + c]);

  d.x[42 * 19 + 4] = std::nanf("");
  d.n = 300;
  {  // write_dataset refuses nothing here: it is the reader's job to find the NaN
    h5::AtomicFile out(tmp.file("nan.h5"));
    h5::write(out.file(), "/X", {300, 19}, d.x);
    out.commit();
  }
  const Hdf5Rows nan_rows(tmp.file("nan.h5"), {41, 42, 43});
  const std::int64_t one[] = {0}, two[] = {1};
  rows.read(one, 1, got.data());
  nan_rows.read(one, 1, got.data());
  hpct::test::check_error([&] { nan_rows.read(two, 1, got.data()); }, {"nan.h5", "/X row 42 column 4", "NaN"});
  hpct::test::check_error([&] { Hdf5Rows(tmp.file("d.h5"), {300}); }, {"d.h5", "row 300", "300 rows"});
}

TEST_CASE("Hdf5Rows reads sequence rows /X [N, L, F] as read_dataset does: padding 0, unread") {
  TempDir tmp;
  Dataset d = generate({.kind = "seq-sum", .n = 40, .seed = 5, .seq_len = 6, .vocab_size = 4, .encoding = "onehot"});
  REQUIRE(d.is_sequence());
  REQUIRE(!d.lengths.empty());
  std::vector<float> x = d.x;
  for (std::int64_t r = 0; r < d.n; ++r)  // the file's padding holds NaN
    for (std::int64_t k = d.length(r) * 4; k < 6 * 4; ++k) x[r * 24 + k] = std::nanf("");
  {
    h5::AtomicFile out(tmp.file("seq.h5"));
    h5::write(out.file(), "/X", {d.n, 6, 4}, x);
    out.commit();
  }
  std::vector<std::int64_t> file_rows = {39, 3, 17, 3};
  const Hdf5Rows rows(tmp.file("seq.h5"), file_rows, d.lengths);
  CHECK(rows.width() == 24);
  std::vector<float> got(4 * 24);
  const std::int64_t want[] = {0, 1, 2, 3};
  rows.read(want, 4, got.data());
  for (std::size_t i = 0; i < 4; ++i)
    for (std::int64_t k = 0; k < 24; ++k) CHECK(got[i * 24 + k] == d.x[file_rows[i] * 24 + k]);  // padding 0

  std::int64_t r = 0;
  while (d.length(r) < 3) ++r;
  x[r * 24 + 2 * 4 + 1] = std::nanf("");  // position 2 of row r is valid
  {
    h5::AtomicFile out(tmp.file("nan.h5"));
    h5::write(out.file(), "/X", {d.n, 6, 4}, x);
    out.commit();
  }
  const std::int64_t zero[] = {0};
  hpct::test::check_error([&] { Hdf5Rows(tmp.file("nan.h5"), {r}, d.lengths).read(zero, 1, got.data()); },
                          {"nan.h5", cat("/X row ", r, " position 2 column 1 is NaN")});
  hpct::test::check_error([&] { Hdf5Rows(tmp.file("seq.h5"), {0}, std::vector<std::int32_t>(3, 1)); },
                          {"seq.h5", "3 lengths given", "40 rows"});
}

TEST_CASE("streamed standardisation equals the in-memory one") {
  TempDir tmp;
  Dataset d = generate({.kind = "heteroscedastic", .n = 9000, .seed = 4});
  for (float& v : d.x) v = 1000.0f + 3.0f * v;  // a large offset: the shifted sums must keep precision
  write_dataset(tmp.file("d.h5"), d);
  std::vector<std::int64_t> all(static_cast<std::size_t>(d.n));
  for (std::int64_t i = 0; i < d.n; ++i) all[i] = i;
  const Hdf5Rows rows(tmp.file("d.h5"), all);
  const train::Standardization mem = train::fit_standardization(d, true);
  const train::Standardization streamed = train::fit_standardization(d, rows, nullptr, true);
  REQUIRE(streamed.x_mean.size() == mem.x_mean.size());
  for (std::size_t c = 0; c < mem.x_mean.size(); ++c) {
    CHECK(streamed.x_mean[c] == doctest::Approx(mem.x_mean[c]).epsilon(1e-6));
    CHECK(streamed.x_std[c] == doctest::Approx(mem.x_std[c]).epsilon(1e-5));
  }
  CHECK(streamed.y_mean == mem.y_mean);
  CHECK(train::fit_standardization(d, rows, nullptr, false).x_mean.empty());
}

TEST_CASE("Loader started at a resume's position hands out the rest of the schedule and reads no earlier row") {
  const Dataset d = numbered(60);
  const DistributedSampler sampler(d.n, 1, 0, 3);
  for (int workers : {0, 2}) {
    CAPTURE(workers);
    const RecordingRows rows(d);
    std::set<std::int64_t> wanted;
    {
      // 6 batches of 10 an epoch, 2 epochs; start at batch 4 of epoch 2 (g = 10).
      Loader loader(d, rows, [&](std::int64_t e) { return sampler.indices(e); }, sampler.samples_per_rank(),
                    {10, 2, workers, 0, 10});
      const std::vector<std::int64_t> order = sampler.indices(2);
      for (std::int64_t b = 4; b < 6; ++b) {
        const HostBatch& batch = loader.next();
        CHECK(batch.epoch == 2);
        CHECK(batch.index == b);
        for (std::int64_t i = 0; i < batch.rows; ++i) {
          CHECK(batch.y[i] == 10.0f * static_cast<float>(order[b * 10 + i]));
          wanted.insert(order[b * 10 + i]);
        }
      }
      hpct::test::check_error([&] { loader.next(); }, {"all 12 batches"});
    }
    CHECK(rows.seen() == wanted);
  }
  hpct::test::check_error(
      [&] {
        const MemoryRows rows(d);
        Loader loader(d, rows, [&](std::int64_t e) { return sampler.indices(e); }, 60, {10, 2, 0, 0, 13});
      },
      {"start batch 13"});
}
