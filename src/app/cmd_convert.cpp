// hpctrain convert: CSV (header row) -> the HDF5 data layout.
#include <iostream>

#include "app/commands.hpp"
#include "app/config.hpp"
#include "core/error.hpp"
#include "data/csv_convert.hpp"
#include "data/dataset.hpp"

namespace hpct::app {

int run_convert(const Args& args) {
  Options o("convert", "Turn a CSV file with a header row into the HDF5 data layout (/X, /y, task).");
  o.add("csv", "", "input CSV file")
      .add("out", "", "output HDF5 file")
      .add("targets", "", "target column names, comma-separated")
      .add("features", "", "feature column names (default: every non-target column)")
      .add("task", "regression", "regression | binary | classification");
  const Config cfg = Config::parse(o, args);
  if (cfg.help()) {
    std::cout << o.help_text();
    return 0;
  }
  HPCT_CHECK(cfg.is_set("csv"), "option --csv is required");
  HPCT_CHECK(cfg.is_set("out"), "option --out is required");
  HPCT_CHECK(cfg.is_set("targets"), "option --targets is required (the target column names)");
  data::CsvOptions c;
  c.targets = cfg.str_list("targets");
  c.features = cfg.str_list("features");
  c.task = cfg.str("task");
  const data::Dataset d = data::read_csv(cfg.str("csv"), c);
  data::write_dataset(cfg.str("out"), d);
  std::cout << "wrote " << cfg.str("out") << ": " << d.n << " rows, " << d.features << " features, " << d.targets
            << " target(s), task " << data::to_string(d.task) << std::endl;
  return 0;
}

}  // namespace hpct::app
