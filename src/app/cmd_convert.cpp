// hpctrain convert: CSV (header row) or any file as byte-level text -> the HDF5 data layout.
#include <iostream>

#include "app/commands.hpp"
#include "app/config.hpp"
#include "core/error.hpp"
#include "data/csv_convert.hpp"
#include "data/dataset.hpp"
#include "data/text_convert.hpp"

namespace hpct::app {

int run_convert(const Args& args) {
  Options o("convert",
            "Turn a CSV file with a header row into the HDF5 data layout (/X, /y, task), or any file (--text) into "
            "byte tokens for next-token prediction (/tokens, /y, /lengths; vocab 256).");
  o.add("csv", "", "input CSV file")
      .add("text", "", "input file of any content: its bytes become token rows with next-byte labels")
      .add("out", "", "output HDF5 file")
      .add("targets", "", "CSV: target column names, comma-separated")
      .add("features", "", "CSV: feature column names (default: every non-target column)")
      .add("task", "regression", "CSV: regression | binary | classification")
      .add("seq-len", "128", "text: tokens per row (L)");
  const Config cfg = Config::parse(o, args);
  if (cfg.help()) {
    std::cout << o.help_text();
    return 0;
  }
  HPCT_CHECK(cfg.is_set("csv") != cfg.is_set("text"), "convert takes one input: --csv FILE or --text FILE");
  HPCT_CHECK(cfg.is_set("out"), "option --out is required");
  data::Dataset d;
  if (cfg.is_set("text")) {
    d = data::read_text(cfg.str("text"), cfg.integer("seq-len"));
    data::write_dataset(cfg.str("out"), d);
    std::cout << "wrote " << cfg.str("out") << ": " << d.n << " rows of " << d.seq_len
              << " byte tokens (vocab 256), next-byte labels" << std::endl;
    return 0;
  }
  HPCT_CHECK(cfg.is_set("targets"), "option --targets is required (the target column names)");
  data::CsvOptions c;
  c.targets = cfg.str_list("targets");
  c.features = cfg.str_list("features");
  c.task = cfg.str("task");
  d = data::read_csv(cfg.str("csv"), c);
  data::write_dataset(cfg.str("out"), d);
  std::cout << "wrote " << cfg.str("out") << ": " << d.n << " rows, " << d.features << " features, " << d.targets
            << " target(s), task " << data::to_string(d.task) << std::endl;
  return 0;
}

}  // namespace hpct::app
