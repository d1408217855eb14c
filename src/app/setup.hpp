#pragma once
// Set-up shared by the subcommands: the backend from --threads, and the train/validation split.
#include <memory>
#include <string>

#include "app/config.hpp"
#include "data/dataset.hpp"
#include "kernels/kernels.hpp"

namespace hpct::app {

// The CPU backend with --threads threads (0 = cores of the node / processes on it).
std::unique_ptr<kernels::Backend> make_backend(const Config& cfg);

struct SplitData {
  data::Dataset train, val;
};

// val_path set: both files, which must agree in features, targets and task. Otherwise a seeded
// random val_fraction of train_path is held out (val_fraction 0: no validation).
SplitData load_train_val(const std::string& train_path, const std::string& val_path, double val_fraction,
                         std::uint64_t seed);

}  // namespace hpct::app
