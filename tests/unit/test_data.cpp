// Data I/O: HDF5 data sets (round trips, validation messages, atomic writes), generators, CSV.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "data/bootstrap.hpp"
#include "data/csv_convert.hpp"
#include "data/dataset.hpp"
#include "data/generators.hpp"
#include "data/hdf5.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace hpct::data;

using hpct::test::TempDir;
using hpct::test::check_error;
using hpct::test::error_of;

namespace {

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

std::vector<float> iota_floats(std::size_t n, float scale = 0.5f) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = scale * static_cast<float>(i) - 3.0f;
  return v;
}

// A raw HDF5 file written through the h5 layer, for bad-input tests.
struct RawFile {
  h5::File f;
  explicit RawFile(const std::string& path) : f(h5::File::create(path)) {}  // closed by ~File
};

void check_same(const Dataset& a, const Dataset& b) {
  CHECK(a.task == b.task);
  CHECK(a.n == b.n);
  CHECK(a.features == b.features);
  CHECK(a.targets == b.targets);
  CHECK(a.num_classes == b.num_classes);
  CHECK(a.x == b.x);
  CHECK(a.y == b.y);
  CHECK(a.labels == b.labels);
  REQUIRE(a.extras.size() == b.extras.size());
  for (std::size_t i = 0; i < a.extras.size(); ++i) {
    // read_dataset lists extras by name; compare by name.
    bool found = false;
    for (const auto& e : b.extras)
      if (e.first == a.extras[i].first) {
        found = true;
        CHECK(e.second == a.extras[i].second);
      }
    CHECK_MESSAGE(found, "extra " << a.extras[i].first);
  }
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}
double stddev(const std::vector<double>& v) {
  const double m = mean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size() - 1));
}

}  // namespace

TEST_CASE("task names") {
  CHECK(parse_task("regression") == Task::regression);
  CHECK(parse_task("binary") == Task::binary);
  CHECK(parse_task("classification") == Task::classification);
  for (Task t : {Task::regression, Task::binary, Task::classification})
    CHECK(parse_task(to_string(t)) == t);
  check_error([] { parse_task("ranking"); }, {"ranking", "regression"});
}

TEST_CASE("dataset round trip: regression, multi-target, binary, classification") {
  TempDir tmp;
  SUBCASE("heteroscedastic (regression with extras)") {
    GeneratorOptions o;
    o.n = 300;
    const Dataset d = generate(o);
    write_dataset(tmp.file("h.h5"), d);
    const Dataset r = read_dataset(tmp.file("h.h5"));
    CHECK(r.source == tmp.file("h.h5"));
    check_same(d, r);
  }
  SUBCASE("physics19 (two targets)") {
    GeneratorOptions o;
    o.kind = "physics19";
    o.n = 100;
    const Dataset d = generate(o);
    write_dataset(tmp.file("p.h5"), d);
    const Dataset r = read_dataset(tmp.file("p.h5"));
    CHECK(r.targets == 2);
    check_same(d, r);
  }
  SUBCASE("two-gaussians (binary)") {
    GeneratorOptions o;
    o.kind = "two-gaussians";
    o.n = 200;
    const Dataset d = generate(o);
    write_dataset(tmp.file("b.h5"), d);
    const Dataset r = read_dataset(tmp.file("b.h5"));
    CHECK(r.task == Task::binary);
    check_same(d, r);
  }
  SUBCASE("classification") {
    Dataset d;
    d.task = Task::classification;
    d.n = 6;
    d.features = 2;
    d.num_classes = 4;  // more than max label + 1: the attribute must survive
    d.x = iota_floats(12);
    d.labels = {0, 1, 2, 0, 1, 2};
    write_dataset(tmp.file("c.h5"), d);
    const Dataset r = read_dataset(tmp.file("c.h5"));
    CHECK(r.targets == 1);
    check_same(d, r);
  }
}

TEST_CASE("read_dataset conversions and inference") {
  TempDir tmp;
  const std::string p = tmp.file("conv.h5");
  SUBCASE("integer /y without task is classification, num_classes = max + 1") {
    {
      RawFile w(p);
      h5::write(w.f, "/X", {4, 1}, std::vector<float>{1, 2, 3, 4});
      h5::write(w.f, "/y", {4}, std::vector<std::int64_t>{0, 3, 1, 3});
    }
    const Dataset d = read_dataset(p);
    CHECK(d.task == Task::classification);
    CHECK(d.num_classes == 4);
    CHECK(d.labels == std::vector<std::int32_t>{0, 3, 1, 3});
  }
  SUBCASE("integer /y with task regression becomes float") {
    {
      RawFile w(p);
      h5::write(w.f, "/X", {3, 1}, std::vector<float>{1, 2, 3});
      h5::write(w.f, "/y", {3}, std::vector<std::int32_t>{5, -2, 7});
      h5::write_attr(w.f, "/", "task", "regression");
    }
    const Dataset d = read_dataset(p);
    CHECK(d.task == Task::regression);
    CHECK(d.y == std::vector<float>{5, -2, 7});
  }
  SUBCASE("float /y without task is regression; [N, 1] is one target") {
    {
      RawFile w(p);
      h5::write(w.f, "/X", {2, 2}, std::vector<float>{1, 2, 3, 4});
      h5::write(w.f, "/y", {2, 1}, std::vector<float>{0.5f, 1.5f});
    }
    const Dataset d = read_dataset(p);
    CHECK(d.task == Task::regression);
    CHECK(d.targets == 1);
    CHECK(d.y == std::vector<float>{0.5f, 1.5f});
  }
}

TEST_CASE("read_dataset rejects bad input with the file and the fault") {
  TempDir tmp;
  const std::string p = tmp.file("bad.h5");
  const auto x = [](std::int64_t n, std::int64_t f) {
    return iota_floats(static_cast<std::size_t>(n * f), 0.01f);
  };

  SUBCASE("missing file") {
    check_error([&] { read_dataset(tmp.file("nope.h5")); }, {tmp.file("nope.h5"), "no such file"});
  }
  SUBCASE("not HDF5") {
    write_text(p, "a,b\n1,2\n");
    check_error([&] { read_dataset(p); }, {p, "not an HDF5 file"});
  }
  SUBCASE("missing /X") {
    {
      RawFile w(p);
      h5::write(w.f, "/y", {3}, std::vector<float>{1, 2, 3});
    }
    check_error([&] { read_dataset(p); }, {p, "no dataset /X"});
  }
  SUBCASE("missing /y") {
    {
      RawFile w(p);
      h5::write(w.f, "/X", {3, 2}, x(3, 2));
    }
    check_error([&] { read_dataset(p); }, {p, "no dataset /y"});
  }
  SUBCASE("/X of rank 4") {  // rank 3 is sequence data (test_sequence_data.cpp)
    {
      RawFile w(p);
      h5::write(w.f, "/X", {2, 3, 2, 2}, x(2, 12));
      h5::write(w.f, "/y", {2}, std::vector<float>{1, 2});
    }
    check_error([&] { read_dataset(p); },
                {p, "dataset /X: expected 2 dimensions [N, F] or 3 [N, L, F], found 4"});
  }
  SUBCASE("/y of rank 3") {
    {
      RawFile w(p);
      h5::write(w.f, "/X", {2, 3}, x(2, 3));
      h5::write(w.f, "/y", {2, 1, 1}, std::vector<float>{1, 2});
    }
    check_error([&] { read_dataset(p); }, {p, "dataset /y", "found 3"});
  }
  SUBCASE("row mismatch") {
    {
      RawFile w(p);
      h5::write(w.f, "/X", {100, 2}, x(100, 2));
      h5::write(w.f, "/y", {99}, std::vector<float>(99, 1.0f));
    }
    check_error([&] { read_dataset(p); }, {p, "/y has 99 rows but /X has 100"});
  }
  SUBCASE("no rows") {
    {
      RawFile w(p);
      h5::write(w.f, "/X", {0, 2}, std::vector<float>{});
      h5::write(w.f, "/y", {0}, std::vector<float>{});
    }
    check_error([&] { read_dataset(p); }, {p, "/X has no rows"});
  }
  SUBCASE("NaN in /X names row and column") {
    auto v = x(20, 5);
    v[17 * 5 + 3] = std::numeric_limits<float>::quiet_NaN();
    {
      RawFile w(p);
      h5::write(w.f, "/X", {20, 5}, v);
      h5::write(w.f, "/y", {20}, std::vector<float>(20, 0.0f));
    }
    check_error([&] { read_dataset(p); }, {p, "/X row 17 column 3 is NaN"});
  }
  SUBCASE("Inf in /X names row and column") {
    auto v = x(20, 5);
    v[4 * 5 + 0] = -std::numeric_limits<float>::infinity();
    {
      RawFile w(p);
      h5::write(w.f, "/X", {20, 5}, v);
      h5::write(w.f, "/y", {20}, std::vector<float>(20, 0.0f));
    }
    check_error([&] { read_dataset(p); }, {p, "/X row 4 column 0 is -Inf"});
  }
  SUBCASE("Inf in /y names the row") {
    std::vector<float> y(10, 1.0f);
    y[6] = std::numeric_limits<float>::infinity();
    {
      RawFile w(p);
      h5::write(w.f, "/X", {10, 2}, x(10, 2));
      h5::write(w.f, "/y", {10}, y);
    }
    check_error([&] { read_dataset(p); }, {p, "/y row 6 is Inf"});
  }
  SUBCASE("label beyond num_classes") {
    {
      RawFile w(p);
      h5::write(w.f, "/X", {4, 2}, x(4, 2));
      h5::write(w.f, "/y", {4}, std::vector<std::int32_t>{0, 1, 5, 2});
      h5::write_attr(w.f, "/", "task", "classification");
      h5::write_attr(w.f, "/", "num_classes", std::int64_t{3});
    }
    check_error([&] { read_dataset(p); }, {p, "/y row 2 is label 5", "num_classes is 3"});
  }
  SUBCASE("negative label") {
    {
      RawFile w(p);
      h5::write(w.f, "/X", {4, 2}, x(4, 2));
      h5::write(w.f, "/y", {4}, std::vector<std::int32_t>{0, 1, -2, 2});
    }
    check_error([&] { read_dataset(p); }, {p, "/y row 2 is label -2", ">= 0"});
  }
  SUBCASE("label -1: an unlabelled row (model ssvae; the model setup refuses it for the others)") {
    {
      RawFile w(p);
      h5::write(w.f, "/X", {4, 2}, x(4, 2));
      h5::write(w.f, "/y", {4}, std::vector<std::int32_t>{0, 1, -1, 2});
    }
    const Dataset d = read_dataset(p);
    CHECK(d.first_unlabelled_row() == 2);
    CHECK(d.num_classes == 3);
  }
  SUBCASE("binary label not 0/1") {
    {
      RawFile w(p);
      h5::write(w.f, "/X", {4, 2}, x(4, 2));
      h5::write(w.f, "/y", {4}, std::vector<float>{0, 1, 0.5f, 1});
      h5::write_attr(w.f, "/", "task", "binary");
    }
    check_error([&] { read_dataset(p); }, {p, "/y row 2 is 0.5", "0 or 1"});
  }
  SUBCASE("unknown task") {
    {
      RawFile w(p);
      h5::write(w.f, "/X", {4, 2}, x(4, 2));
      h5::write(w.f, "/y", {4}, std::vector<float>{0, 1, 0, 1});
      h5::write_attr(w.f, "/", "task", "ranking");
    }
    check_error([&] { read_dataset(p); }, {p, "task", "unknown task 'ranking'"});
  }
  SUBCASE("task attribute not a string") {
    {
      RawFile w(p);
      h5::write(w.f, "/X", {4, 2}, x(4, 2));
      h5::write(w.f, "/y", {4}, std::vector<float>{0, 1, 0, 1});
      h5::write_attr(w.f, "/", "task", std::int64_t{2});
    }
    check_error([&] { read_dataset(p); }, {p, "'task'", "expected a string"});
  }
}

TEST_CASE("write_dataset is atomic") {
  TempDir tmp;
  GeneratorOptions o;
  o.n = 50;
  const Dataset good = generate(o);

  SUBCASE("nonexistent directory: error names the path, nothing is left") {
    const std::string p = tmp.file("missing_dir/d.h5");
    check_error([&] { write_dataset(p, good); }, {p, "cannot create"});
    CHECK(tmp.entries().empty());
  }
  SUBCASE("failure part-way leaves no file and no temporary") {
    Dataset bad = good;
    bad.y.pop_back();  // /X is written before the /y size check fails
    const std::string p = tmp.file("d.h5");
    check_error([&] { write_dataset(p, bad); }, {p, "/y has 49 values"});
    CHECK(tmp.entries().empty());
  }
  SUBCASE("failure does not clobber an existing file") {
    const std::string p = tmp.file("d.h5");
    write_dataset(p, good);
    Dataset bad = good;
    bad.extras.emplace_back("broken", std::vector<float>(7, 1.0f));  // not a multiple of n
    check_error([&] { write_dataset(p, bad); }, {p, "/broken"});
    CHECK(tmp.entries() == std::vector<std::string>{"d.h5"});
    check_same(good, read_dataset(p));
  }
  SUBCASE("a successful write replaces an existing file") {
    const std::string p = tmp.file("d.h5");
    write_dataset(p, good);
    GeneratorOptions o2 = o;
    o2.seed = 9;
    const Dataset other = generate(o2);
    write_dataset(p, other);
    check_same(other, read_dataset(p));
    CHECK(tmp.entries() == std::vector<std::string>{"d.h5"});
  }
}

TEST_CASE("Dataset::subset") {
  GeneratorOptions o;
  o.kind = "physics19";
  o.n = 10;
  const Dataset d = generate(o);
  const Dataset s = d.subset({7, 2, 2});
  REQUIRE(s.n == 3);
  CHECK(s.features == 19);
  CHECK(s.targets == 2);
  for (int j = 0; j < 19; ++j) {
    CHECK(s.x[j] == d.x[7 * 19 + j]);
    CHECK(s.x[19 + j] == d.x[2 * 19 + j]);
  }
  CHECK(s.y[0] == d.y[14]);
  CHECK(s.y[1] == d.y[15]);
  REQUIRE(s.extras.size() == 1);
  CHECK(s.extras[0].second.size() == 6);
  CHECK(s.extras[0].second[4] == d.extras[0].second[4]);
  check_error([&] { (void)d.subset({10}); }, {"row index 10"});
}

TEST_CASE("generators are deterministic in the seed") {
  for (const char* kind : {"heteroscedastic", "two-gaussians", "physics19"}) {
    CAPTURE(kind);
    GeneratorOptions o;
    o.kind = kind;
    o.n = 257;
    const Dataset a = generate(o), b = generate(o);
    CHECK(a.x == b.x);
    CHECK(a.y == b.y);
    o.seed = 2;
    const Dataset c = generate(o);
    CHECK(a.x != c.x);
    CHECK(a.y != c.y);
    REQUIRE(a.x.size() == static_cast<std::size_t>(a.n * a.features));
    if (std::string(kind) != "two-gaussians") {
      const auto [lo, hi] = std::minmax_element(a.x.begin(), a.x.end());
      CHECK(*lo >= -1.0f);
      CHECK(*hi <= 1.0f);
    }
  }
}

TEST_CASE("generator defaults and errors") {
  GeneratorOptions o;
  o.n = 5;
  CHECK(generate(o).features == 4);
  o.kind = "two-gaussians";
  CHECK(generate(o).features == 8);
  o.features = 3;
  CHECK(generate(o).features == 3);
  o.kind = "nonsense";
  check_error([&] { generate(o); },
              {"nonsense", "heteroscedastic", "two-gaussians", "physics19"});
  o.kind = "heteroscedastic";
  o.n = 0;
  check_error([&] { generate(o); }, {"n must be > 0"});
  o.n = 5;
  o.kind = "physics19";
  o.features = 5;
  check_error([&] { generate(o); }, {"19"});
}

TEST_CASE("heteroscedastic statistics") {
  GeneratorOptions o;
  o.n = 40000;
  o.features = 5;
  o.seed = 3;
  const Dataset d = generate(o);
  REQUIRE(d.extras.size() == 2);
  CHECK(d.extras[0].first == "f");
  CHECK(d.extras[1].first == "sigma");
  const auto& f = d.extras[0].second;
  const auto& sigma = d.extras[1].second;
  std::vector<double> z, low, high;
  double low_sigma = 0, high_sigma = 0, f_err = 0, sigma_err = 0;
  for (std::int64_t i = 0; i < d.n; ++i) {
    const float* x = &d.x[static_cast<std::size_t>(i * d.features)];
    // The documented f and sigma.
    const double fx = std::sin(std::numbers::pi * x[0]) + 0.5 * x[1] * x[1] +
                      0.25 * (x[2] + x[3] + x[4]);
    f_err = std::max(f_err, std::fabs(f[i] - fx));
    sigma_err = std::max(sigma_err, std::fabs(sigma[i] - (0.1 + 0.2 * (1 + x[0]))));
    const double r = d.y[i] - f[i];
    z.push_back(r / sigma[i]);
    if (x[0] < -0.8) {
      low.push_back(r);
      low_sigma += sigma[i];
    } else if (x[0] > 0.8) {
      high.push_back(r);
      high_sigma += sigma[i];
    }
  }
  CHECK(f_err < 1e-5);
  CHECK(sigma_err < 1e-6);
  CHECK(std::fabs(mean(z)) < 0.02);
  CHECK(stddev(z) == doctest::Approx(1.0).epsilon(0.02));
  // The residual's spread follows sigma(x): about 0.12 at x0 = -0.9, 0.48 at x0 = 0.9.
  CHECK(stddev(low) == doctest::Approx(low_sigma / low.size()).epsilon(0.05));
  CHECK(stddev(high) == doctest::Approx(high_sigma / high.size()).epsilon(0.05));
}

TEST_CASE("two-gaussians: the optimal classifier reaches the Bayes accuracy") {
  CHECK(two_gaussians_bayes_accuracy(0.0) == doctest::Approx(0.5));
  CHECK(two_gaussians_bayes_accuracy(2.0) == doctest::Approx(0.8413447461));
  for (double sep : {1.0, 2.0, 3.0}) {
    CAPTURE(sep);
    GeneratorOptions o;
    o.kind = "two-gaussians";
    o.n = 50000;
    o.separation = sep;
    const Dataset d = generate(o);
    CHECK(d.task == Task::binary);
    REQUIRE(d.extras.size() == 1);
    CHECK(d.extras[0].first == "p_optimal");
    const auto& p = d.extras[0].second;
    std::int64_t correct = 0, ones = 0;
    for (std::int64_t i = 0; i < d.n; ++i) {
      correct += (p[i] > 0.5f) == (d.y[i] == 1.0f);
      ones += d.y[i] == 1.0f;
    }
    const double acc = static_cast<double>(correct) / static_cast<double>(d.n);
    CHECK(acc == doctest::Approx(two_gaussians_bayes_accuracy(sep)).epsilon(0.012));
    CHECK(static_cast<double>(ones) / static_cast<double>(d.n) == doctest::Approx(0.5).epsilon(0.02));
  }
}

TEST_CASE("physics19 shapes and noise") {
  GeneratorOptions o;
  o.kind = "physics19";
  o.n = 5000;
  const Dataset d = generate(o);
  CHECK(d.task == Task::regression);
  CHECK(d.features == 19);
  CHECK(d.targets == 2);
  CHECK(d.x.size() == 5000u * 19u);
  CHECK(d.y.size() == 5000u * 2u);
  REQUIRE(d.extras.size() == 1);
  CHECK(d.extras[0].first == "f");
  const auto& f = d.extras[0].second;
  CHECK(f.size() == 5000u * 2u);
  std::vector<double> r0, r1, y0;
  for (std::int64_t i = 0; i < d.n; ++i) {
    r0.push_back(d.y[2 * i] - f[2 * i]);
    r1.push_back(d.y[2 * i + 1] - f[2 * i + 1]);
    y0.push_back(f[2 * i]);
  }
  CHECK(stddev(r0) == doctest::Approx(0.01).epsilon(0.05));
  CHECK(stddev(r1) == doctest::Approx(0.01).epsilon(0.05));
  CHECK(stddev(y0) > 0.5);  // the targets carry signal well above the noise
  // The coefficients do not depend on the seed: same x gives the same f.
  const double x0 = d.x[0];
  o.seed = 77;
  const Dataset e = generate(o);
  CHECK(e.x[0] != x0);
  const double y1 = std::exp(0.3 * e.x[0] - 0.2 * e.x[1]) * std::cos(double(e.x[2]) + e.x[3]);
  double sq = 0;
  for (int j = 0; j < 19; ++j) sq += double(e.x[j]) * e.x[j];
  CHECK(e.extras[0].second[1] == doctest::Approx(y1 + 0.1 * sq).epsilon(1e-5));
}

TEST_CASE("read_csv") {
  TempDir tmp;
  const std::string p = tmp.file("t.csv");
  CsvOptions opt;
  opt.targets = {"y"};

  SUBCASE("good file: quotes, spaces, CRLF, blank lines") {
    write_text(p, "a, \"b\" ,y\r\n1, 2.5 ,\"3\"\r\n-1e-2,+4,5\r\n\r\n");
    const Dataset d = read_csv(p, opt);
    CHECK(d.source == p);
    CHECK(d.task == Task::regression);
    CHECK(d.n == 2);
    CHECK(d.features == 2);
    CHECK(d.targets == 1);
    CHECK(d.x == std::vector<float>{1.0f, 2.5f, -0.01f, 4.0f});
    CHECK(d.y == std::vector<float>{3.0f, 5.0f});
  }
  SUBCASE("chosen features and several targets, other columns ignored") {
    write_text(p, "id,a,b,y,z\nfoo,1,2,3,4\nbar,5,6,7,8\n");
    opt.features = {"b", "a"};
    opt.targets = {"z", "y"};
    const Dataset d = read_csv(p, opt);
    CHECK(d.x == std::vector<float>{2, 1, 6, 5});
    CHECK(d.targets == 2);
    CHECK(d.y == std::vector<float>{4, 3, 8, 7});
  }
  SUBCASE("classification labels") {
    write_text(p, "a,y\n0.5,2\n1.5,0\n2.5,1\n");
    opt.task = "classification";
    const Dataset d = read_csv(p, opt);
    CHECK(d.task == Task::classification);
    CHECK(d.labels == std::vector<std::int32_t>{2, 0, 1});
    CHECK(d.num_classes == 3);
    CHECK(d.y.empty());
  }
  SUBCASE("csv to HDF5 and back") {
    write_text(p, "a,b,y\n1,2,0\n3,4,1\n");
    opt.task = "binary";
    const Dataset d = read_csv(p, opt);
    write_dataset(tmp.file("t.h5"), d);
    check_same(d, read_dataset(tmp.file("t.h5")));
  }
  SUBCASE("missing column") {
    write_text(p, "a,b\n1,2\n");
    check_error([&] { read_csv(p, opt); }, {p, "line 1", "'y'", "a, b"});
  }
  SUBCASE("missing feature column") {
    write_text(p, "a,y\n1,2\n");
    opt.features = {"q"};
    check_error([&] { read_csv(p, opt); }, {p, "line 1", "'q'"});
  }
  SUBCASE("non-numeric field names line and column") {
    write_text(p, "a,b,y\n1,2,3\n4,abc,6\n");
    check_error([&] { read_csv(p, opt); }, {p, "line 3", "column 'b'", "'abc' is not a number"});
  }
  SUBCASE("non-finite field") {
    write_text(p, "a,y\n1,2\nnan,3\n");
    check_error([&] { read_csv(p, opt); }, {p, "line 3", "column 'a'", "not finite"});
  }
  SUBCASE("ragged row") {
    write_text(p, "a,b,y\n1,2,3\n4,5\n");
    check_error([&] { read_csv(p, opt); }, {p, "line 3", "2 fields, expected 3"});
  }
  SUBCASE("empty file") {
    write_text(p, "");
    check_error([&] { read_csv(p, opt); }, {p, "empty file"});
  }
  SUBCASE("header only") {
    write_text(p, "a,y\n");
    check_error([&] { read_csv(p, opt); }, {p, "no data rows"});
  }
  SUBCASE("bad binary label") {
    write_text(p, "a,y\n1,0\n2,2\n");
    opt.task = "binary";
    check_error([&] { read_csv(p, opt); }, {p, "line 3", "column 'y'", "0 or 1"});
  }
  SUBCASE("missing file") {
    check_error([&] { read_csv(tmp.file("none.csv"), opt); }, {tmp.file("none.csv"), "cannot open"});
  }
}

TEST_CASE("bootstrap_rows: reproducible per seed, in range, about 1 - 1/e of the rows drawn") {
  const auto a = hpct::data::bootstrap_rows(10000, 7), b = hpct::data::bootstrap_rows(10000, 7);
  const auto c = hpct::data::bootstrap_rows(10000, 8);
  CHECK(a == b);
  CHECK(a != c);
  std::vector<char> seen(10000, 0);
  for (std::int64_t r : a) {
    REQUIRE((r >= 0 && r < 10000));
    seen[static_cast<std::size_t>(r)] = 1;
  }
  // Distinct rows: expected n (1 - (1 - 1/n)^n) = 6321, sd ~ 30.
  const auto distinct = std::count(seen.begin(), seen.end(), 1);
  CHECK(distinct > 6200);
  CHECK(distinct < 6440);
}

TEST_CASE("out_of_bag_rows: exactly the rows a resample did not draw, ascending") {
  const auto drawn = hpct::data::bootstrap_rows(1000, 3);
  const auto oob = hpct::data::out_of_bag_rows(1000, drawn);
  CHECK(std::is_sorted(oob.begin(), oob.end()));
  std::vector<int> kind(1000, 0);  // 1 drawn, 2 out of bag
  for (std::int64_t r : drawn) kind[static_cast<std::size_t>(r)] = 1;
  for (std::int64_t r : oob) {
    REQUIRE((r >= 0 && r < 1000));
    CHECK(kind[static_cast<std::size_t>(r)] == 0);  // never drawn, listed once
    kind[static_cast<std::size_t>(r)] = 2;
  }
  CHECK(std::count(kind.begin(), kind.end(), 0) == 0);  // every row drawn or out of bag
  CHECK(hpct::data::out_of_bag_rows(3, {0, 1, 2}).empty());
  CHECK(hpct::data::out_of_bag_rows(3, {1, 1, 1}) == std::vector<std::int64_t>{0, 2});
}
