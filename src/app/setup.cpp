#include "app/setup.hpp"

#include <cmath>
#include <numeric>

#include "data/distributed_sampler.hpp"

namespace hpct::app {

std::unique_ptr<kernels::Backend> make_backend(const Config& cfg) {
  const std::int64_t threads = cfg.integer("threads");
  HPCT_CHECK(threads >= 0 && threads <= 4096, "option --threads: must be in [0, 4096], got ", threads);
  return kernels::make_cpu_backend(static_cast<int>(threads));
}

namespace {

// Rows rank, rank + world, ... of `rows`.
std::vector<std::int64_t> shard_of(const std::vector<std::int64_t>& rows, int world, int rank) {
  std::vector<std::int64_t> mine;
  for (std::size_t i = static_cast<std::size_t>(rank); i < rows.size(); i += static_cast<std::size_t>(world))
    mine.push_back(rows[i]);
  return mine;
}

// Rows `rows` of a file's data set with their features: from memory (`all` has x), or read from the
// file (streamed).
data::Dataset rows_with_features(const data::Dataset& all, const std::vector<std::int64_t>& rows) {
  data::Dataset d = all.subset(rows);
  if (all.x.empty() && all.row_width() > 0 && !rows.empty()) {  // token data have no float features
    d.x.resize(rows.size() * static_cast<std::size_t>(all.row_width()));
    data::Hdf5Rows(all.source, rows).read_all(d.x.data());
  }
  return d;
}

data::Dataset without_features(data::Dataset d) {
  d.x.clear();
  d.x.shrink_to_fit();
  return d;
}

}  // namespace

SplitData load_train_val(const std::string& train_path, const std::string& val_path, double val_fraction,
                         std::uint64_t seed, bool stream, int world, int rank) {
  SplitData s;
  data::Dataset all = data::read_dataset(train_path, true, !stream);
  HPCT_CHECK(!stream || !all.is_sequence(), "option --data.stream: ", train_path,
             " holds sequences; they are loaded whole (streaming reads tabular /X [N, F] only)");
  std::vector<std::int64_t> train_rows, val_rows;  // rows of train_path, and of the validation file
  data::Dataset val_all;
  if (!val_path.empty()) {
    val_all = data::read_dataset(val_path, true, !stream);
    HPCT_CHECK(val_all.features == all.features && val_all.targets == all.targets && val_all.task == all.task,
               val_path, ": validation data (", val_all.features, " features, ", val_all.targets, " targets, ",
               data::to_string(val_all.task), ") does not match ", train_path, " (", all.features, " features, ",
               all.targets, " targets, ", data::to_string(all.task), ")");
    // Sequences may differ in L (the model checks its maximum); not in kind, vocabulary or target level.
    HPCT_CHECK(val_all.is_sequence() == all.is_sequence() && val_all.vocab_size == all.vocab_size &&
                   val_all.token_targets == all.token_targets,
               val_path, ": validation data (", val_all.is_sequence() ? "sequences" : "tabular", ", vocab_size ",
               val_all.vocab_size, ", ", val_all.token_targets ? "per-token" : "per-row", " targets) does not match ",
               train_path, " (", all.is_sequence() ? "sequences" : "tabular", ", vocab_size ", all.vocab_size, ", ",
               all.token_targets ? "per-token" : "per-row", " targets)");
    val_all.num_classes = all.num_classes = std::max(val_all.num_classes, all.num_classes);
    train_rows.resize(static_cast<std::size_t>(all.n));
    std::iota(train_rows.begin(), train_rows.end(), 0);
    val_rows.resize(static_cast<std::size_t>(val_all.n));
    std::iota(val_rows.begin(), val_rows.end(), 0);
  } else {
    HPCT_CHECK(val_fraction >= 0.0 && val_fraction < 1.0, "option --data.val-fraction: must be in [0, 1), got ",
               val_fraction);
    const auto n_val = static_cast<std::int64_t>(std::floor(val_fraction * static_cast<double>(all.n)));
    HPCT_CHECK(all.n - n_val > 0, train_path, ": no rows left for training after holding out ", n_val);
    // Epoch -1 of the data-order permutation: a split independent of every training epoch's order.
    const std::vector<std::int64_t> perm = data::epoch_permutation(all.n, seed, -1);
    val_rows.assign(perm.begin(), perm.begin() + n_val);
    train_rows.assign(perm.begin() + n_val, perm.end());
  }
  const data::Dataset& val_source = val_path.empty() ? all : val_all;
  s.val_truth = without_features(val_source.subset(val_rows));
  s.val = rows_with_features(val_source, shard_of(val_rows, world, rank));
  s.train = all.subset(train_rows);
  if (stream) s.train_x = std::make_unique<data::Hdf5Rows>(train_path, std::move(train_rows));
  return s;
}

}  // namespace hpct::app
