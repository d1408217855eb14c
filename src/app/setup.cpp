#include "app/setup.hpp"

#include <algorithm>
#include <cstdlib>
#include <cmath>
#include <numeric>

#include "core/log.hpp"
#include "data/bootstrap.hpp"
#include "data/distributed_sampler.hpp"

namespace hpct::app {

std::string resolve_device(const std::string& option) {
  std::string device = option;
  if (device == "auto") {
    // The environment may pick the device for every command of a job (the test suite runs it all on
    // cpu-async this way); else cuda when a GPU is usable, else cpu.
    const char* env = std::getenv("HPCTRAIN_DEVICE");
    device = env && *env ? env : kernels::cuda_device_count() > 0 ? "cuda" : "cpu";
  }
  HPCT_CHECK(device == "cpu" || device == "cpu-async" || device == "cuda", "option --device: unknown device '", option,
             "' (valid: auto, cpu, cpu-async, cuda", option == "auto" ? "; from HPCTRAIN_DEVICE" : "", ")");
  return device;
}

std::string device_fallback_note(const Config& cfg) {
  if (cfg.str("device") != "auto" || resolve_device("auto") != "cpu") return "";
  std::string why;
  return kernels::cuda_device_count(&why) == 0 ? cat("device auto: cpu (no usable GPU: ", why, ")") : "";
}

std::unique_ptr<kernels::Backend> make_backend(const Config& cfg) {
  const std::int64_t threads = cfg.integer("threads");
  HPCT_CHECK(threads >= 0 && threads <= 4096, "option --threads: must be in [0, 4096], got ", threads);
  const std::string device = resolve_device(cfg.str("device"));
  // Parsed on every device, so a bad value fails on the CPU too (where TF32 changes nothing).
  const bool tf32 = cfg.declared("precision.tf32") && cfg.boolean("precision.tf32");
  if (device != "cuda") return kernels::make_backend(device, static_cast<int>(threads));
  std::vector<int> ids;
  if (cfg.declared("gpu-ids"))
    for (const std::int64_t id : cfg.int_list("gpu-ids")) ids.push_back(static_cast<int>(id));
  const bool sharing = cfg.declared("allow-gpu-sharing") && cfg.boolean("allow-gpu-sharing");
  return kernels::make_cuda_backend(kernels::local_rank_from_env(), ids, sharing, tf32);
}

DType parse_precision(const std::string& value) {
  DType t = DType::f32;
  HPCT_CHECK(parse_float_dtype(value, t), "option --precision: unknown precision '", value,
             "' (valid: fp32, bf16, fp16)");
  return t;
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
    data::Hdf5Rows(all.source, rows, all.lengths).read_all(d.x.data());
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
                         std::uint64_t seed, bool stream, int world, int rank, bool bootstrap) {
  SplitData s;
  HPCT_CHECK(!(bootstrap && stream), "option --ensemble.bootstrap: not with --data.stream (the resample is drawn in memory)");
  data::Dataset all = data::read_dataset(train_path, true, !stream);
  HPCT_CHECK(!stream || !all.has_tokens(), "option --data.stream: ", train_path,
             " holds token ids /tokens, which are loaded whole (streaming reads /X [N, F] or [N, L, F])");
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
    if (bootstrap) train_rows = data::bootstrap_rows(all.n, seed);
  } else if (bootstrap) {
    train_rows = data::bootstrap_rows(all.n, seed);
    val_rows = data::out_of_bag_rows(all.n, train_rows);
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
  if (stream) s.train_x = std::make_unique<data::Hdf5Rows>(train_path, std::move(train_rows), all.lengths);
  return s;
}

namespace {

std::string input_kind(const data::Dataset& d) {
  if (!d.is_sequence()) return "tabular /X [N, F]";
  return d.has_tokens() ? cat("sequences /tokens [N, L] (vocab_size ", d.vocab_size, ")") : "sequences /X [N, L, F]";
}

}  // namespace

void check_model_fits_data(const nn::ModelSpec& spec, const data::Dataset& d, const std::string& origin) {
  const std::string model =
      origin == "option model.type" ? cat(origin, " ", spec.type) : cat("model ", spec.type, " of ", origin);
  if (spec.type == "mlp" || spec.type == "transformer-tabular" || spec.type == "ssvae") {
    HPCT_CHECK(!d.is_sequence(), d.source, ": holds ", input_kind(d), " but ", model, " takes tabular /X [N, F]");
  } else {
    HPCT_CHECK(d.is_sequence(), d.source, ": holds ", input_kind(d), " but ", model,
               spec.type == "lm" ? " takes byte tokens /tokens [N, L] (hpctrain convert --text)"
                                 : " takes sequences (/tokens [N, L] or /X [N, L, F])");
    HPCT_CHECK(d.has_tokens() == (spec.vocab_size > 0), d.source, ": holds ", input_kind(d), " but ", model,
               " takes ", spec.vocab_size > 0 ? "token ids /tokens [N, L]" : "per-position features /X [N, L, F]");
    HPCT_CHECK(d.seq_len <= spec.max_length, d.source, ": sequences of L = ", d.seq_len,
               " positions are longer than the model's maximum length ", spec.max_length,
               " (option model.max-length, or the checkpoint's max_length)");
    if (d.has_tokens() && d.vocab_size > spec.vocab_size) {
      // The reader checked ids against the file's vocab_size; a file may declare a larger vocabulary
      // than the model's and still use only ids the model knows, so those files are scanned again.
      for (std::int64_t r = 0; r < d.n; ++r)
        for (std::int64_t l = 0; l < d.length(r); ++l) {
          const std::int32_t id = d.tokens[static_cast<std::size_t>(r * d.seq_len + l)];
          HPCT_CHECK(id < spec.vocab_size, d.source, ": /tokens row ", r, " position ", l, " is id ", id,
                     ", outside the vocabulary [0, ", spec.vocab_size, ") of ", model);
        }
    }
  }
  if (d.vocab_size == 0)
    HPCT_CHECK(d.features == spec.in_features, d.source, ": /X has ", d.features, " features per ",
               d.is_sequence() ? "position" : "row", " but ", model, " takes ", spec.in_features);
  if (d.targets > 0 && spec.type != "ssvae") {
    // (rows of a split are not the file's rows, so the message names the file only)
    HPCT_CHECK(d.first_unlabelled_row() < 0, d.source, ": /y holds label -1 (unlabelled rows); class labels must be ",
               ">= 0 for ", model, " (-1 = unlabelled is for model.type ssvae only)");
  }
  if (d.targets > 0) {
    const bool token = d.token_targets;
    HPCT_CHECK(token == spec.per_token(), d.source, ": /y holds ", token ? "per-token" : "per-row", " targets but ",
               model, " predicts ", spec.per_token() ? "per token" : "per row",
               spec.type == "lm" ? " (lm needs next-byte labels: hpctrain convert --text)" : "");
    if (d.task == data::Task::classification)
      HPCT_CHECK(d.num_classes <= spec.out_features, d.source, ": /y has ", d.num_classes, " classes but ", model,
                 " predicts ", spec.out_features);
  }
}

nn::ModelSpec model_spec_from_options(const Config& cfg, nn::LossKind loss, const data::Dataset& train,
                                      const data::Dataset& val) {
  nn::ModelSpec spec;
  spec.type = cfg.str("model.type");
  HPCT_CHECK(spec.type == "mlp" || spec.type == "transformer-tabular" || spec.type == "transformer" ||
                 spec.type == "lm" || spec.type == "cnn1d" || spec.type == "unet1d" || spec.type == "ssvae",
             "option model.type: unknown model type '", spec.type,
             "' (valid: mlp, transformer-tabular, transformer, lm, cnn1d, unet1d, ssvae)");
  const bool lm = spec.type == "lm";
  spec.in_features = train.features;
  spec.targets = train.task == data::Task::classification ? 1 : train.targets;
  spec.out_features = lm ? 256 : nn::output_width(loss, train.targets, train.num_classes);
  spec.widths = cfg.int_list("model.widths");
  spec.activation = cfg.str("model.activation");
  if (spec.activation == "auto") spec.activation = spec.type == "mlp" ? "gelu" : "gelu-exact";
  spec.dropout = cfg.real("model.dropout");
  spec.layernorm = cfg.boolean("model.layernorm");
  spec.loss = nn::to_string(loss);
  spec.task = data::to_string(train.task);
  spec.d_model = cfg.integer("model.d-model");
  spec.heads = cfg.integer("model.heads");
  spec.layers = cfg.integer("model.layers");
  spec.mlp_ratio = cfg.real("model.mlp-ratio");
  spec.latent = cfg.integer("model.latent");
  spec.recon = cfg.str("model.recon");
  spec.alpha = cfg.real("model.alpha");
  if (spec.type == "ssvae") {
    HPCT_CHECK(train.task == data::Task::classification && !train.is_sequence() && loss == nn::LossKind::ce,
               "option model.type ssvae: needs tabular rows /X [N, F] with class labels /y (-1 = unlabelled) and ",
               "loss ce; ", train.source, " has task ", data::to_string(train.task),
               train.is_sequence() ? " and sequences" : "", ", loss ", nn::to_string(loss));
    HPCT_CHECK(spec.recon != "bernoulli" || !cfg.boolean("data.standardize"),
               "option data.standardize: model.type ssvae with model.recon bernoulli reconstructs x in [0, 1] ",
               "as stored; set --data.standardize false (or use --model.recon gaussian)");
  }
  spec.pooling = cfg.str("model.pooling");
  spec.channels = cfg.integer("model.channels");
  spec.kernel_size = cfg.integer("model.kernel-size");
  spec.dilations = cfg.int_list("model.dilations");
  HPCT_CHECK(spec.pooling == "mean" || spec.pooling == "cls", "option model.pooling: unknown pooling '", spec.pooling,
             "' (valid: mean, cls)");
  HPCT_CHECK(!cfg.boolean("model.causal") || spec.type == "transformer" || lm,
             "option model.causal: applies to model.type transformer (lm always is causal), not ", spec.type);
  spec.causal = lm || cfg.boolean("model.causal");
  spec.vocab_size = lm ? 256 : train.vocab_size;
  spec.seq_len = train.seq_len;
  spec.target_level = lm || train.token_targets ? "token" : "sequence";  // lm: next-byte labels per position
  if (spec.type == "transformer" || lm || spec.is_conv()) {  // conv models: no positions, the bound only
    const std::int64_t max_length = cfg.integer("model.max-length");
    HPCT_CHECK(max_length >= 0, "option model.max-length: must be positive (or 0 = the data's L), got ", max_length);
    spec.max_length = max_length > 0 ? max_length : std::max(train.seq_len, val.seq_len);
  }
  const std::string origin = "option model.type";
  check_model_fits_data(spec, train, origin);
  if (val.n > 0) check_model_fits_data(spec, val, origin);
  HPCT_CHECK(!lm || loss == nn::LossKind::ce, "option model.type lm: trains with next-byte cross-entropy, not loss ",
             nn::to_string(loss), " (", train.source, " has task ", data::to_string(train.task), ")");
  return spec;
}

}  // namespace hpct::app
