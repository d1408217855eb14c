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
        "physics19 (19 smooth parameters, 2 targets)")
      .add("n", "8192", "rows")
      .add("features", "0", "features (0 = the kind's default: 4, 8, 19)")
      .add("separation", "2", "two-gaussians: distance between class means in standard deviations")
      .add("seed", "1", "random seed")
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
  const std::string out = cfg.is_set("out") ? cfg.str("out") : "data/" + g.kind + ".h5";
  const data::Dataset d = data::generate(g);
  const std::filesystem::path parent = std::filesystem::path(out).parent_path();
  std::error_code ec;
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  HPCT_CHECK(!ec, "option --out: cannot create the directory ", parent.string(), ": ", ec.message());
  data::write_dataset(out, d);
  std::cout << "wrote " << out << ": " << g.kind << ", " << d.n << " rows, " << d.features << " features, "
            << d.targets << " target(s), task " << data::to_string(d.task) << std::endl;
  return 0;
}

}  // namespace hpct::app
