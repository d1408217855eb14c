#include "app/setup.hpp"

#include <cmath>

#include "data/distributed_sampler.hpp"

namespace hpct::app {

std::unique_ptr<kernels::Backend> make_backend(const Config& cfg) {
  const std::int64_t threads = cfg.integer("threads");
  HPCT_CHECK(threads >= 0 && threads <= 4096, "option --threads: must be in [0, 4096], got ", threads);
  return kernels::make_cpu_backend(static_cast<int>(threads));
}

SplitData load_train_val(const std::string& train_path, const std::string& val_path, double val_fraction,
                         std::uint64_t seed) {
  SplitData s;
  s.train = data::read_dataset(train_path);
  if (!val_path.empty()) {
    s.val = data::read_dataset(val_path);
    HPCT_CHECK(s.val.features == s.train.features && s.val.targets == s.train.targets &&
                   s.val.task == s.train.task,
               val_path, ": validation data (", s.val.features, " features, ", s.val.targets, " targets, ",
               data::to_string(s.val.task), ") does not match ", train_path, " (", s.train.features, " features, ",
               s.train.targets, " targets, ", data::to_string(s.train.task), ")");
    s.val.num_classes = s.train.num_classes = std::max(s.val.num_classes, s.train.num_classes);
    return s;
  }
  HPCT_CHECK(val_fraction >= 0.0 && val_fraction < 1.0, "option --data.val-fraction: must be in [0, 1), got ",
             val_fraction);
  const data::Dataset all = std::move(s.train);
  const auto n_val = static_cast<std::int64_t>(std::floor(val_fraction * static_cast<double>(all.n)));
  HPCT_CHECK(all.n - n_val > 0, train_path, ": no rows left for training after holding out ", n_val);
  // Epoch -1 of the data-order permutation: a split independent of every training epoch's order.
  const std::vector<std::int64_t> perm = data::epoch_permutation(all.n, seed, -1);
  s.val = all.subset({perm.begin(), perm.begin() + n_val});
  s.train = all.subset({perm.begin() + n_val, perm.end()});
  return s;
}

}  // namespace hpct::app
