// hpctrain gen-data: write a synthetic data set with known ground truth (src/data/generators.hpp).
#include <filesystem>
#include <iostream>

#include "app/commands.hpp"
#include "app/config.hpp"
#include "core/error.hpp"
#include "data/dataset.hpp"
#include "data/generators.hpp"

namespace hpct::app {

int run_gen_data(const Args& args) {
  Options o("gen-data", "Write a synthetic HDF5 data set with known ground truth.");
  o.add("kind", "heteroscedastic",
        "heteroscedastic (y = f(x) + sigma(x) e) | two-gaussians (binary, known optimal classifier) | "
        "physics19 (19 smooth parameters, 2 targets) | seq-window (token sequences, a class per position from a "
        "window of 3 tokens) | seq-sum (token sequences, y = mean of cos(token)) | seq-majority (token "
        "sequences, a binary class per position from the majority of a window of 15 tokens)")
      .add("n", "8192", "rows")
      .add("features", "0", "features (0 = the kind's default: 4, 8, 19)")
      .add("separation", "2", "two-gaussians: distance between class means in standard deviations")
      .add("seed", "1", "random seed")
      .add("seq-len", "0", "sequence kinds: the longest sequence L (0 = 64); lengths are uniform in [L/4, L]")
      .add("vocab", "0", "sequence kinds: the alphabet size (0 = 20)")
      .add("encoding", "tokens", "sequence kinds: tokens (/tokens [N, L]) | onehot (/X [N, L, vocab] floats)")
      .add("out", "", "output file (default data/<kind>.h5)");
  const Config cfg = Config::parse(o, args);
  if (cfg.help()) {
    std::cout << o.help_text();
    return 0;
  }
  data::GeneratorOptions g;
  g.kind = cfg.str("kind");
  g.n = cfg.integer("n");
  g.features = cfg.integer("features");
  g.separation = cfg.real("separation");
  g.seed = cfg.unsigned_integer("seed");
  g.seq_len = cfg.integer("seq-len");
  g.vocab_size = cfg.integer("vocab");
  g.encoding = cfg.str("encoding");
  const std::string out = cfg.is_set("out") ? cfg.str("out") : "data/" + g.kind + ".h5";
  const data::Dataset d = data::generate(g);
  const std::filesystem::path parent = std::filesystem::path(out).parent_path();
  std::error_code ec;
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  HPCT_CHECK(!ec, "option --out: cannot create the directory ", parent.string(), ": ", ec.message());
  data::write_dataset(out, d);
  std::cout << "wrote " << out << ": " << g.kind << ", " << d.n << " rows, ";
  if (d.is_sequence())
    std::cout << "sequences of up to " << d.seq_len << " positions of "
              << (d.has_tokens() ? cat("tokens (vocab ", d.vocab_size, ")") : cat(d.features, " features")) << ", "
              << (d.token_targets ? "per-token" : "per-sequence") << " targets, ";
  else
    std::cout << d.features << " features, " << d.targets << " target(s), ";
  std::cout << "task " << data::to_string(d.task) << std::endl;
  return 0;
}

}  // namespace hpct::app
