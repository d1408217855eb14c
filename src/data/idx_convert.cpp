#include "data/idx_convert.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <numeric>
#include <vector>

#include "core/error.hpp"
#include "core/philox.hpp"

namespace hpct::data {
namespace {

struct Idx {
  std::vector<std::int64_t> dims;
  std::vector<unsigned char> values;
};

Idx read_idx_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  HPCT_CHECK(in.good(), "option --idx: cannot read the ", what, " file ", path);
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  HPCT_CHECK(bytes.size() >= 4 && bytes[0] == 0 && bytes[1] == 0, "option --idx: ", path, " is not an IDX file ",
             "(it must start with two zero bytes, a type byte and a rank byte)");
  HPCT_CHECK(bytes[2] == 0x08, "option --idx: ", path, " holds IDX type 0x", std::hex, int(bytes[2]), std::dec,
             "; only unsigned bytes (0x08, as MNIST and FashionMNIST) are supported");
  Idx idx;
  const std::size_t rank = bytes[3];
  HPCT_CHECK(rank >= 1 && bytes.size() >= 4 + 4 * rank, "option --idx: ", path, " is truncated in its header (rank ",
             rank, ")");
  std::int64_t count = 1;
  for (std::size_t i = 0; i < rank; ++i) {
    const unsigned char* p = bytes.data() + 4 + 4 * i;
    const std::int64_t d = (std::int64_t{p[0]} << 24) | (std::int64_t{p[1]} << 16) | (std::int64_t{p[2]} << 8) | p[3];
    HPCT_CHECK(d > 0, "option --idx: ", path, " has dimension ", i, " of size 0");
    idx.dims.push_back(d);
    count *= d;
  }
  const std::size_t header = 4 + 4 * rank;
  HPCT_CHECK(bytes.size() - header == static_cast<std::size_t>(count), "option --idx: ", path, " declares ", count,
             " values but holds ", bytes.size() - header, " (truncated or trailing bytes)");
  idx.values.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
  return idx;
}

}  // namespace

Dataset read_idx(const std::string& images_path, const std::string& labels_path) {
  const Idx images = read_idx_file(images_path, "images");
  const Idx labels = read_idx_file(labels_path, "labels");
  HPCT_CHECK(images.dims.size() >= 2, "option --idx: ", images_path, " has rank ", images.dims.size(),
             "; images need [N, rows, cols] (rank >= 2)");
  HPCT_CHECK(labels.dims.size() == 1, "option --idx: ", labels_path, " has rank ", labels.dims.size(),
             "; labels need [N] (rank 1)");
  HPCT_CHECK(images.dims[0] == labels.dims[0], "option --idx: ", images_path, " holds ", images.dims[0],
             " images but ", labels_path, " holds ", labels.dims[0], " labels");
  Dataset d;
  d.source = images_path;
  d.task = Task::classification;
  d.n = images.dims[0];
  d.features = static_cast<std::int64_t>(images.values.size()) / d.n;
  d.targets = 1;
  d.x.resize(images.values.size());
  for (std::size_t i = 0; i < images.values.size(); ++i) d.x[i] = static_cast<float>(images.values[i]) / 255.0f;
  d.labels.assign(labels.values.begin(), labels.values.end());
  d.num_classes = *std::max_element(d.labels.begin(), d.labels.end()) + 1;
  return d;
}

void mark_unlabelled(Dataset& d, double fraction, std::uint64_t seed) {
  HPCT_CHECK(fraction >= 0.0 && fraction <= 1.0, "option --labelled-fraction: must be in [0, 1], got ", fraction);
  HPCT_CHECK(d.task == Task::classification && !d.token_targets && !d.labels.empty(),
             "option --labelled-fraction: needs per-row class labels (task classification), ", d.source, " has task ",
             to_string(d.task));
  // A Fisher-Yates shuffle driven by Philox (seed, stream 0, draw i): the first round(fraction N) rows of
  // the permutation keep their labels.
  std::vector<std::int64_t> order(static_cast<std::size_t>(d.n));
  std::iota(order.begin(), order.end(), 0);
  for (std::int64_t i = d.n - 1; i > 0; --i) {
    const U32x4 r = philox4x32(seed, static_cast<std::uint64_t>(i), 0x5353u);
    const std::uint64_t v = (std::uint64_t{r.v[0]} << 32) | r.v[1];
    std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(v % static_cast<std::uint64_t>(i + 1))]);
  }
  const auto keep = static_cast<std::int64_t>(std::llround(fraction * static_cast<double>(d.n)));
  for (std::int64_t i = keep; i < d.n; ++i) d.labels[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])] = kIgnoreLabel;
}

}  // namespace hpct::data
