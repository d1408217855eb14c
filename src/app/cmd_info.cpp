// hpctrain info FILE...: describe HDF5 data sets (shape, task, column ranges) and checkpoints (model,
// parameters, standardisation, training progress).
#include <algorithm>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "app/commands.hpp"
#include "app/config.hpp"
#include "app/run_dir_info.hpp"
#include "data/dataset.hpp"
#include "data/hdf5.hpp"
#include "train/checkpoint.hpp"
#include "train/model_io.hpp"

namespace hpct::app {
namespace {

std::string join(const std::vector<std::int64_t>& v) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += cat(i ? "," : "", v[i]);
  return s;
}

void describe_checkpoint(const std::string& path) {
  const train::CheckpointData c = train::load_checkpoint(path);
  const nn::ModelSpec s = train::spec_from_attrs(c.model, path);
  std::int64_t count = 0;
  for (const auto& p : c.params) count += static_cast<std::int64_t>(p.values.size());
  std::cout << path << ": hpctrain checkpoint, epoch " << c.epoch << ", step " << c.step << "\n";
  if (s.type == "mlp")
    std::cout << "  model " << s.type << ": " << s.in_features << " -> [" << join(s.widths) << "] -> "
              << s.out_features << ", activation " << s.activation << ", dropout " << s.dropout << ", layernorm "
              << (s.layernorm ? "on" : "off") << "\n";
  else if (s.is_conv())
    std::cout << "  model " << s.type << ": " << s.in_features << " features, channels " << s.channels
              << ", kernel_size " << s.kernel_size << ", layers " << s.layers
              << (s.type == "cnn1d" ? cat(", dilations [", join(s.dilations), "]") : std::string(" (levels)"))
              << ", per-position head -> " << s.out_features << ", activation " << s.activation << "\n";
  else
    std::cout << "  model " << s.type << ": "
              << (s.vocab_size > 0 ? cat("vocab_size ", s.vocab_size) : cat(s.in_features, " features")) << ", d_model "
              << s.d_model << ", heads " << s.heads << ", layers " << s.layers << ", mlp_ratio " << s.mlp_ratio
              << (s.type == "transformer-tabular" ? "" : cat(", max_length ", s.max_length)) << ", "
              << (s.per_token() ? "per-token head" : "pooling " + s.pooling) << (s.causal ? ", causal" : "") << " -> "
              << s.out_features << ", activation " << s.activation << ", dropout " << s.dropout << "\n";
  std::cout << "  loss " << s.loss << ", task " << s.task << ", " << s.targets << " target(s)\n"
            << "  standardization " << (c.standardization.x_mean.empty() ? "off" : "on") << "\n"
            << "  " << c.params.size() << " tensors, " << count << " parameters:\n";
  for (const auto& p : c.params) std::cout << "    " << std::left << std::setw(24) << p.name << " [" << join(p.shape) << "]\n";
}

void describe_dataset(const std::string& path) {
  const data::Dataset d = data::read_dataset(path, /*require_targets=*/false);
  std::cout << path << ": data set, " << d.n << " rows";
  if (d.is_sequence())
    std::cout << ", sequences of L = " << d.seq_len << " positions of "
              << (d.has_tokens() ? cat("tokens (vocab_size ", d.vocab_size, ")") : cat(d.features, " features"));
  else
    std::cout << ", " << d.features << " features";
  if (d.targets > 0) {
    std::cout << ", task " << data::to_string(d.task);
    if (d.task == data::Task::classification) std::cout << " (" << d.num_classes << " classes)";
    else std::cout << ", " << d.targets << " target(s)";
    if (d.is_sequence()) std::cout << ", target level " << (d.token_targets ? "token" : "sequence");
  } else {
    std::cout << ", no targets";
  }
  std::cout << "\n";
  // Valid rows of a [rows, cols] view: every data row, or for sequences every valid position.
  std::vector<std::int64_t> valid;
  std::int64_t total_length = 0, shortest = d.seq_len, longest = 0;
  for (std::int64_t r = 0; r < d.n; ++r) {
    const std::int64_t len = d.length(r);
    total_length += len;
    shortest = std::min(shortest, len);
    longest = std::max(longest, len);
    for (std::int64_t i = 0; i < (d.is_sequence() ? len : 1); ++i) valid.push_back(d.is_sequence() ? r * d.seq_len + i : r);
  }
  if (d.is_sequence())
    std::cout << "  lengths min " << shortest << " mean " << static_cast<double>(total_length) / static_cast<double>(d.n)
              << " max " << longest << (d.lengths.empty() ? " (no /lengths: all L)" : "") << "\n";
  auto column = [&](const std::vector<float>& v, std::int64_t cols, std::int64_t c, const std::vector<std::int64_t>& rows,
                    const std::string& name) {
    double lo = v[rows[0] * cols + c], hi = lo, sum = 0;
    for (std::int64_t r : rows) {
      const double x = v[r * cols + c];
      lo = std::min(lo, x);
      hi = std::max(hi, x);
      sum += x;
    }
    std::cout << "  " << std::left << std::setw(6) << name << " min " << std::setw(11) << lo << " mean "
              << std::setw(11) << sum / static_cast<double>(rows.size()) << " max " << hi << "\n";
  };
  if (d.has_tokens()) {
    std::vector<std::int64_t> count(static_cast<std::size_t>(d.vocab_size), 0);
    for (std::int64_t k : valid) ++count[static_cast<std::size_t>(d.tokens[k])];
    std::cout << "  tokens " << valid.size() << " valid, "
              << std::count_if(count.begin(), count.end(), [](std::int64_t c) { return c > 0; }) << " of "
              << d.vocab_size << " ids used\n";
  }
  const std::int64_t shown = std::min<std::int64_t>(d.features, 8);
  for (std::int64_t c = 0; c < shown; ++c) column(d.x, d.features, c, valid, cat("x", c));
  if (shown < d.features) std::cout << "  ... " << d.features - shown << " more features\n";
  std::vector<std::int64_t> all_rows(static_cast<std::size_t>(d.n));
  for (std::int64_t r = 0; r < d.n; ++r) all_rows[static_cast<std::size_t>(r)] = r;
  const std::vector<std::int64_t>& y_rows = d.token_targets ? valid : all_rows;  // y is [n * L, T] per token
  for (std::int64_t c = 0; c < d.targets && !d.y.empty(); ++c) column(d.y, d.targets, c, y_rows, cat("y", c));
  if (d.token_targets && !d.labels.empty()) {
    const auto ignored = std::count(d.labels.begin(), d.labels.end(), data::kIgnoreLabel);
    std::cout << "  labels " << static_cast<std::int64_t>(d.labels.size()) - ignored << " per-token labels, "
              << ignored << " ignored (-1, padding included)\n";
  }
  for (const auto& [name, values] : d.extras) std::cout << "  extra /" << name << " (" << values.size() << " values)\n";
}

}  // namespace

int run_info(const Args& args) {
  Options o("info", "Describe HDF5 data sets, checkpoints and run directories: hpctrain info PATH [PATH ...]; "
                    "or this machine: hpctrain info --system");
  o.add("file", "", "a file or run directory to describe (plain arguments; several are described in turn)");
  o.flag("system", false, "describe this machine instead: versions, CPU, CUDA libraries, GPUs and, under mpirun/srun, which rank runs on which node and GPU");
  std::vector<std::string> paths;
  bool system = false;
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") {
      std::cout << o.help_text();
      return 0;
    }
    if (a == "--system") system = true;
    else if (a.rfind("--file=", 0) == 0) paths.push_back(a.substr(7));
    else if (a.rfind("-", 0) == 0 && a != "--file") fail("info: unknown option ", a, " (hpctrain info PATH [PATH ...] or --system)");
    else if (a != "--file") paths.push_back(a);
  }
  if (system) {
    HPCT_CHECK(paths.empty(), "info --system takes no file (got '", paths.empty() ? "" : paths[0], "')");
    return run_info_system();
  }
  HPCT_CHECK(!paths.empty(), "info needs a file or run directory: hpctrain info PATH [PATH ...] (or --system)");
  for (std::size_t i = 0; i < paths.size(); ++i) {
    if (i) std::cout << "\n";
    const std::string& path = paths[i];
    if (std::filesystem::is_directory(path)) {
      describe_run_dir(path, std::cout);
      continue;
    }
    const data::h5::File f = data::h5::File::open_read(path);
    if (data::h5::has_attr(f, "/", "format")) describe_checkpoint(path);
    else describe_dataset(path);
  }
  return 0;
}

}  // namespace hpct::app
