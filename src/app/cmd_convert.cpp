// hpctrain convert: CSV (header row), any file as byte-level text, or protein sequences in FASTA with
// per-residue labels -> the HDF5 data layout.
#include <algorithm>
#include <iostream>

#include "app/commands.hpp"
#include "app/config.hpp"
#include "core/error.hpp"
#include "data/csv_convert.hpp"
#include "data/dataset.hpp"
#include "data/fasta_convert.hpp"
#include "data/idx_convert.hpp"
#include "data/text_convert.hpp"

namespace hpct::app {

int run_convert(const Args& given) {
  // --idx IMAGES LABELS: two values, passed on as one comma-separated option value.
  Args args;
  for (std::size_t i = 0; i < given.size(); ++i) {
    args.push_back(given[i]);
    if (given[i] == "--idx" && i + 2 < given.size() && given[i + 2].rfind("--", 0) != 0) {
      args.push_back(given[i + 1] + "," + given[i + 2]);
      i += 2;
    }
  }
  Options o("convert",
            "Turn a CSV file with a header row into the HDF5 data layout (/X, /y, task), or any file (--text) into "
            "byte tokens for next-token prediction (/tokens, /y, /lengths; vocab 256), or protein sequences (--fasta) "
            "into per-residue features with per-residue labels (/X [N, L, F], /lengths, /y).");
  o.add("csv", "", "input CSV file")
      .add("text", "", "input file of any content: its bytes become token rows with next-byte labels")
      .add("fasta", "", "input protein sequences in FASTA (README: Data layout, convert --fasta)")
      .add("labels", "", "fasta: per-residue labels, one FASTA-framed record per sequence id")
      .add("encoding", "onehot", "fasta: onehot (21 features) | blosum62 (20 features)")
      .add("max-length", "0", "fasta: positions per row L (0 = the longest sequence)")
      .add("idx", "", "MNIST/FashionMNIST IDX files: --idx IMAGES LABELS (pixels scaled to [0, 1])")
      .add("labelled-fraction", "", "classification: keep the labels of this fraction of rows (seeded), -1 for the rest (model ssvae)")
      .add("seed", "1", "--labelled-fraction: which rows keep their labels")
      .add("out", "", "output HDF5 file")
      .add("targets", "", "CSV: target column names, comma-separated")
      .add("features", "", "CSV: feature column names (default: every non-target column)")
      .add("task", "", "regression | binary | classification (default: regression for CSV, classification for FASTA labels)")
      .add("seq-len", "128", "text: tokens per row (L)");
  const Config cfg = Config::parse(o, args);
  if (cfg.help()) {
    std::cout << o.help_text();
    return 0;
  }
  HPCT_CHECK(cfg.is_set("csv") + cfg.is_set("text") + cfg.is_set("fasta") + cfg.is_set("idx") == 1,
             "convert takes one input: --csv FILE, --text FILE, --fasta FILE or --idx IMAGES LABELS");
  HPCT_CHECK(cfg.is_set("out"), "option --out is required");
  const double labelled = cfg.is_set("labelled-fraction") ? cfg.real("labelled-fraction") : 1.0;
  HPCT_CHECK(!cfg.is_set("labelled-fraction") || (!cfg.is_set("text") && !cfg.is_set("fasta")),
             "option --labelled-fraction: applies to per-row class labels (--idx, --csv), not to --text or --fasta");
  data::Dataset d;
  if (cfg.is_set("idx")) {
    const std::vector<std::string> files = cfg.str_list("idx");
    HPCT_CHECK(files.size() == 2, "option --idx: takes two files, IMAGES and LABELS, got ", files.size());
    d = data::read_idx(files[0], files[1]);
    if (cfg.is_set("labelled-fraction")) data::mark_unlabelled(d, labelled, cfg.unsigned_integer("seed"));
    data::write_dataset(cfg.str("out"), d);
    std::cout << "wrote " << cfg.str("out") << ": " << d.n << " images of " << d.features << " pixels in [0, 1], "
              << d.num_classes << " classes, " << d.n - std::count(d.labels.begin(), d.labels.end(), -1)
              << " labelled" << std::endl;
    return 0;
  }
  if (cfg.is_set("fasta")) {
    data::FastaOptions f;
    f.encoding = cfg.str("encoding");
    f.labels = cfg.str("labels");
    f.task = cfg.is_set("task") ? cfg.str("task") : "classification";
    f.max_length = cfg.integer("max-length");
    d = data::read_fasta(cfg.str("fasta"), f);
    data::write_dataset(cfg.str("out"), d);
    std::cout << "wrote " << cfg.str("out") << ": " << d.n << " sequences of up to " << d.seq_len << " residues, "
              << d.features << " features per residue (" << f.encoding << ")"
              << (f.labels.empty() ? std::string(", no labels") : cat(", per-residue task ", data::to_string(d.task)))
              << std::endl;
    return 0;
  }
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
  c.task = cfg.is_set("task") ? cfg.str("task") : "regression";
  d = data::read_csv(cfg.str("csv"), c);
  if (cfg.is_set("labelled-fraction")) data::mark_unlabelled(d, labelled, cfg.unsigned_integer("seed"));
  data::write_dataset(cfg.str("out"), d);
  std::cout << "wrote " << cfg.str("out") << ": " << d.n << " rows, " << d.features << " features, " << d.targets
            << " target(s), task " << data::to_string(d.task) << std::endl;
  return 0;
}

}  // namespace hpct::app
