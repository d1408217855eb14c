#pragma once
// Set-up shared by the subcommands: the backend from --threads, and the train/validation split.
#include <memory>
#include <string>

#include "app/config.hpp"
#include "data/dataset.hpp"
#include "data/row_source.hpp"
#include "kernels/kernels.hpp"
#include "nn/loss.hpp"
#include "nn/model_spec.hpp"

namespace hpct::app {

// The CPU backend with --threads threads (0 = cores of the node / processes on it).
// --device: auto (HPCTRAIN_DEVICE when set, else cpu), cpu, cpu-async; throws naming a bad value.
std::string resolve_device(const std::string& option);
std::unique_ptr<kernels::Backend> make_backend(const Config& cfg);

// "device auto: cpu (no usable GPU: why)" when --device auto found no usable GPU, else "": train says it
// in its banner (commands whose stdout is their output stay silent).
std::string device_fallback_note(const Config& cfg);
// --precision fp32 | bf16 | fp16 as the compute dtype; throws naming a bad value.
DType parse_precision(const std::string& value);

struct SplitData {
  data::Dataset train;                        // training rows: targets, and features unless streamed
  std::unique_ptr<data::Hdf5Rows> train_x;    // their features read from the file, when streamed
  data::Dataset val;                          // this rank's validation rows r, r + p, r + 2p, ...
  data::Dataset val_truth;                    // targets of every validation row (no features)
};

// val_path set: both files, which must agree in features, targets and task. Otherwise a seeded
// random val_fraction of train_path is held out (val_fraction 0: no validation). With `stream`, the
// training features are not loaded but read batch by batch (train_x), and of the validation rows
// only this rank's shard is read; otherwise every rank loads the files whole and keeps its shard.
// With `bootstrap` (--ensemble.bootstrap) the training rows are a bootstrap resample (`seed`) of all
// of train_path's rows, and without val_path the rows it left out validate (out of bag, about 1/e;
// val_fraction is not used): holding rows out before resampling would make every member an estimator
// on fewer rows than the ensemble sees, and its spread overstate the ensemble's error.
SplitData load_train_val(const std::string& train_path, const std::string& val_path, double val_fraction,
                         std::uint64_t seed, bool stream, int world, int rank, bool bootstrap = false);

// The model spec of a `train` run from the [model] options and the training data (its inputs, targets
// and L; max_length defaults to the longest L of the training and validation data), with the data-fit
// checks of check_model_fits_data on both. Errors name the option and value, or the file.
nn::ModelSpec model_spec_from_options(const Config& cfg, nn::LossKind loss, const data::Dataset& train,
                                      const data::Dataset& val);

// Checks that data d (file d.source) fits a model: its input kind (mlp and transformer-tabular take
// tabular /X [N, F]; transformer and lm sequences, lm byte tokens), features, vocabulary and token ids,
// sequence length (L <= max_length), target level. `origin` names where the model comes from
// ("option model.type", or a checkpoint path); errors name it.
void check_model_fits_data(const nn::ModelSpec& spec, const data::Dataset& d, const std::string& origin);

}  // namespace hpct::app
