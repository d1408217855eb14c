// Checkpoint files: round trip of every field, parameter order, errors, atomic writes.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "data/dataset.hpp"
#include "data/hdf5.hpp"
#include "test_support.hpp"
#include "train/checkpoint.hpp"

namespace fs = std::filesystem;
using namespace hpct::train;
namespace h5 = hpct::data::h5;

using hpct::test::TempDir;
using hpct::test::check_error;
using hpct::test::error_of;

namespace {


CheckpointData sample() {
  CheckpointData c;
  c.config = "[model]\nwidths = 64,64\nactivation = gelu\n\n[train]\nlr = 0.001\n";
  c.epoch = 7;
  c.step = 123456789012LL;  // beyond 32 bits
  c.model["type"] = std::string("mlp");
  c.model["in_features"] = std::int64_t{19};
  c.model["dropout"] = 0.125;
  c.model["widths"] = std::vector<std::int64_t>{64, 32, 16};
  c.model["no_widths"] = std::vector<std::int64_t>{};
  c.model["layernorm"] = std::int64_t{0};
  // Deliberately not in name order: the file must keep model order.
  const std::vector<std::pair<std::string, std::vector<std::int64_t>>> params = {
      {"layers.0.weight", {3, 2}}, {"layers.0.bias", {3}},  {"layers.10.weight", {1, 3}},
      {"layers.2.bias", {1}},      {"head.weight", {2, 1}}, {"a.scalar", {}}};
  float v = 0.25f;
  for (const auto& [name, shape] : params) {
    NamedArray a;
    a.name = name;
    a.shape = shape;
    std::int64_t count = 1;
    for (auto s : shape) count *= s;
    for (std::int64_t i = 0; i < count; ++i) a.values.push_back(v += 0.5f);
    c.params.push_back(a);
  }
  c.standardization.x_mean = {0.5f, -1.0f};
  c.standardization.x_std = {2.0f, 3.0f};
  c.standardization.y_mean = {10.0f};
  c.standardization.y_std = {0.1f};
  return c;
}

void check_same(const CheckpointData& a, const CheckpointData& b) {
  CHECK(a.config == b.config);
  CHECK(a.epoch == b.epoch);
  CHECK(a.step == b.step);
  CHECK(a.model == b.model);
  REQUIRE(a.params.size() == b.params.size());
  for (std::size_t i = 0; i < a.params.size(); ++i) {
    CAPTURE(i);
    CHECK(a.params[i].name == b.params[i].name);
    CHECK(a.params[i].shape == b.params[i].shape);
    CHECK(a.params[i].values == b.params[i].values);
  }
  CHECK(a.standardization.x_mean == b.standardization.x_mean);
  CHECK(a.standardization.x_std == b.standardization.x_std);
  CHECK(a.standardization.y_mean == b.standardization.y_mean);
  CHECK(a.standardization.y_std == b.standardization.y_std);
}

}  // namespace

TEST_CASE("checkpoint round trip keeps every field and the parameter order") {
  TempDir tmp;
  const std::string p = tmp.file("model.h5");
  const CheckpointData c = sample();
  save_checkpoint(p, c);
  CHECK(tmp.entries() == std::vector<std::string>{"model.h5"});
  const CheckpointData r = load_checkpoint(p);
  check_same(c, r);
  REQUIRE(r.params.size() == 6);
  CHECK(r.params[2].name == "layers.10.weight");
  CHECK(r.params[5].shape.empty());  // a scalar stays a scalar
  // The attribute types are the ones in the layout.
  CHECK(std::holds_alternative<std::string>(r.model.at("type")));
  CHECK(std::holds_alternative<std::int64_t>(r.model.at("in_features")));
  CHECK(std::holds_alternative<double>(r.model.at("dropout")));
  CHECK(std::holds_alternative<std::vector<std::int64_t>>(r.model.at("widths")));
  CHECK(std::get<std::vector<std::int64_t>>(r.model.at("no_widths")).empty());

  // The layout itself, as another reader sees it.
  const h5::File f = h5::File::open_read(p);
  CHECK(h5::read_string_attr(f, "/", "format") == "hpctrain-checkpoint");
  CHECK(h5::read_int64_attr(f, "/", "version") == 1);
  CHECK(h5::dataset_info(f, "/params/layers.0.weight").shape == std::vector<std::int64_t>{3, 2});
  CHECK(h5::dataset_info(f, "/params/layers.0.weight").type == h5::TypeClass::floating);
  CHECK(h5::dataset_info(f, "/params/layers.0.weight").type_size == 4);
  CHECK(h5::read_float(f, "/standardization/x_std") == std::vector<float>{2.0f, 3.0f});
}

TEST_CASE("checkpoint without standardization, with a large config") {
  TempDir tmp;
  const std::string p = tmp.file("plain.h5");
  CheckpointData c = sample();
  c.standardization = {};
  c.config.clear();
  for (int i = 0; i < 20000; ++i) c.config += "key" + std::to_string(i) + " = value\n";  // > 64 KiB
  save_checkpoint(p, c);
  const CheckpointData r = load_checkpoint(p);
  check_same(c, r);
  CHECK(r.standardization.x_mean.empty());
}

TEST_CASE("overwriting a checkpoint replaces it") {
  TempDir tmp;
  const std::string p = tmp.file("c.h5");
  CheckpointData c = sample();
  save_checkpoint(p, c);
  c.epoch = 8;
  c.params.pop_back();
  save_checkpoint(p, c);
  check_same(c, load_checkpoint(p));
  CHECK(tmp.entries() == std::vector<std::string>{"c.h5"});
}

TEST_CASE("checkpoint load errors name the file and the fault") {
  TempDir tmp;
  SUBCASE("missing file") {
    const std::string p = tmp.file("none.h5");
    check_error([&] { load_checkpoint(p); }, {p, "no such file"});
  }
  SUBCASE("not HDF5") {
    const std::string p = tmp.file("text.h5");
    std::ofstream(p) << "hello\n";
    check_error([&] { load_checkpoint(p); }, {p, "not an HDF5 file"});
  }
  SUBCASE("a data set is not a checkpoint") {
    const std::string p = tmp.file("data.h5");
    hpct::data::Dataset d;
    d.n = 2;
    d.features = 1;
    d.x = {1, 2};
    d.y = {3, 4};
    hpct::data::write_dataset(p, d);
    check_error([&] { load_checkpoint(p); },
                     {p + ": not an hpctrain checkpoint (no format attribute)"});
  }
  SUBCASE("wrong format string") {
    const std::string p = tmp.file("other.h5");
    {
      h5::File f = h5::File::create(p);
      h5::write_attr(f, "/", "format", "something-else");
    }
    check_error([&] { load_checkpoint(p); }, {p, "not an hpctrain checkpoint", "something-else"});
  }
  SUBCASE("unknown version") {
    const std::string p = tmp.file("v2.h5");
    {
      h5::File f = h5::File::create(p);
      h5::write_attr(f, "/", "format", "hpctrain-checkpoint");
      h5::write_attr(f, "/", "version", std::int64_t{2});
    }
    check_error([&] { load_checkpoint(p); }, {p, "unsupported checkpoint version 2"});
  }
  SUBCASE("missing /params") {
    const std::string p = tmp.file("noparams.h5");
    {
      h5::File f = h5::File::create(p);
      h5::write_attr(f, "/", "format", "hpctrain-checkpoint");
      h5::write_attr(f, "/", "version", std::int64_t{1});
      h5::write_attr(f, "/", "config", "");
      h5::write_attr(f, "/", "epoch", std::int64_t{0});
      h5::write_attr(f, "/", "step", std::int64_t{0});
      h5::create_group(f, "/model");
    }
    check_error([&] { load_checkpoint(p); }, {p, "/params"});
  }
}

TEST_CASE("checkpoint save failures leave the old file and no temporary") {
  TempDir tmp;
  const std::string p = tmp.file("c.h5");
  const CheckpointData good = sample();
  save_checkpoint(p, good);

  SUBCASE("shape and values disagree") {
    CheckpointData bad = sample();
    bad.params[3].values.push_back(1.0f);
    check_error([&] { save_checkpoint(p, bad); }, {p, "/params/layers.2.bias"});
  }
  SUBCASE("duplicate parameter name") {
    CheckpointData bad = sample();
    bad.params.push_back(bad.params[0]);
    check_error([&] { save_checkpoint(p, bad); }, {p, "duplicate", "layers.0.weight"});
  }
  SUBCASE("name with a slash") {
    CheckpointData bad = sample();
    bad.params[0].name = "layers/0";
    check_error([&] { save_checkpoint(p, bad); }, {p, "layers/0"});
  }
  CHECK(tmp.entries() == std::vector<std::string>{"c.h5"});
  check_same(good, load_checkpoint(p));
}

TEST_CASE("checkpoint into a missing directory") {
  TempDir tmp;
  const std::string p = tmp.file("no/such/dir/c.h5");
  check_error([&] { save_checkpoint(p, sample()); }, {p, "cannot create"});
  CHECK(tmp.entries().empty());
}

namespace {

std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

// A periodic checkpoint at `step`: the sample plus a training part with a metrics row per epoch.
CheckpointData periodic(std::int64_t step) {
  CheckpointData c = sample();
  CheckpointData::Resume r;
  r.state.epoch = 3;
  r.state.micro = 5;
  r.state.step = step;
  r.state.micro_steps = 0xfedcba9876543210ull;  // all 64 bits survive
  r.state.data_seed = 0x8000000000000001ull;
  r.state.scaler = {1024.0, 7.0, 2.0, 11.0, 4.0};
  r.state.epoch_loss = {12.5, 640.0};
  r.state.history = {{{"epoch", 1.0}, {"train_loss", 0.5}, {"val_r2", std::nan("")}},
                     {{"epoch", 2.0}, {"train_loss", 0.25}, {"val_r2", 0.75}}};
  r.optimizer = {{"m", {4}, {1.0f, -2.0f, 3.0f, 0.0f}}, {"v", {4}, {0.5f, 0.25f, 0.125f, 1e-30f}}};
  r.math = "batch-size = 32\nworld-size = 2\n";
  c.resume = r;
  return c;
}

}  // namespace

TEST_CASE("periodic checkpoint round trip keeps the training state, optimizer state and metrics rows") {
  TempDir dir;
  const std::string path = dir.file("p.h5");
  const CheckpointData c = periodic(42);
  save_checkpoint(path, c);
  const CheckpointData back = load_checkpoint(path);
  check_same(c, back);
  REQUIRE(back.resume);
  const TrainState &a = c.resume->state, &b = back.resume->state;
  CHECK(b.epoch == a.epoch);
  CHECK(b.micro == a.micro);
  CHECK(b.step == a.step);
  CHECK(b.micro_steps == a.micro_steps);
  CHECK(b.data_seed == a.data_seed);
  CHECK(b.scaler == a.scaler);
  CHECK(b.epoch_loss == a.epoch_loss);
  REQUIRE(b.history.size() == 2);
  CHECK(b.history[1] == a.history[1]);
  CHECK(b.history[0][0] == a.history[0][0]);
  CHECK(std::isnan(b.history[0][2].second));
  CHECK(back.resume->math == c.resume->math);
  REQUIRE(back.resume->optimizer.size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(back.resume->optimizer[i].name == c.resume->optimizer[i].name);
    CHECK(back.resume->optimizer[i].values == c.resume->optimizer[i].values);
  }
  save_checkpoint(dir.file("plain.h5"), sample());
  CHECK_FALSE(load_checkpoint(dir.file("plain.h5")).resume);  // a final model.h5 has no training part
}

TEST_CASE("checkpoints directory: keep prunes, latest names the newest, a corrupt latest falls back") {
  TempDir dir;
  const std::string run = dir.dir.string();
  for (std::int64_t step : {2, 4, 6}) save_periodic_checkpoint(run, periodic(step), 2);
  std::vector<std::string> files = names_in(checkpoints_dir(run));
  CHECK(files == std::vector<std::string>{"latest", "step-00000004.h5", "step-00000006.h5"});
  auto latest = load_latest_checkpoint(run);
  REQUIRE(latest);
  CHECK(latest->data.resume->state.step == 6);
  {  // one float of a parameter (layers.0.bias[1] = 4.25) changed behind the checksum's back
    const std::string path = checkpoints_dir(run) + "/step-00000006.h5";
    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const float from = 4.25f, to = 5.25f;
    const auto at = bytes.find(std::string(reinterpret_cast<const char*>(&from), 4));
    REQUIRE(at != std::string::npos);
    bytes.replace(at, 4, std::string(reinterpret_cast<const char*>(&to), 4));
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  }
  check_error([&] { load_checkpoint(checkpoints_dir(run) + "/step-00000006.h5"); },
              {"step-00000006.h5", "/params/layers.0.bias is corrupt"});
  latest = load_latest_checkpoint(run);
  REQUIRE(latest);
  CHECK(latest->data.resume->state.step == 4);
  drop_checkpoints_after(run, 4);
  files = names_in(checkpoints_dir(run));
  CHECK(files == std::vector<std::string>{"latest", "step-00000004.h5"});
  CHECK_FALSE(load_latest_checkpoint(dir.file("nowhere")));
}
