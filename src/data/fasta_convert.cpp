#include "data/fasta_convert.hpp"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include "core/error.hpp"
#include "data/amino_acids.hpp"

namespace hpct::data {
namespace {

struct Record {
  std::string id, body;  // body: the record's lines joined by '\n' (sequence lines or label lines)
  std::int64_t line = 0;  // the header's line number
};

// The records of a FASTA-framed file, in file order. what names the option in errors.
std::vector<Record> read_records(const std::string& path, const std::string& what) {
  std::error_code ec;
  HPCT_CHECK(!std::filesystem::is_directory(path, ec), what, ": is a directory, not a file");
  std::ifstream in(path);
  HPCT_CHECK(in.is_open(), what, ": cannot open: ", std::strerror(errno));
  std::vector<Record> records;
  std::string line;
  std::int64_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty() && line[0] == '>') {
      std::istringstream header(line.substr(1));
      Record r;
      header >> r.id;
      r.line = number;
      HPCT_CHECK(!r.id.empty(), what, ": line ", number, ": a '>' header without an id");
      records.push_back(std::move(r));
      continue;
    }
    if (line.find_first_not_of(" \t") == std::string::npos) continue;  // blank
    HPCT_CHECK(!records.empty(), what, ": line ", number, ": text before the first '>' header");
    records.back().body.append(line).push_back('\n');
  }
  HPCT_CHECK(!in.bad(), what, ": read error at line ", number);
  HPCT_CHECK(!records.empty(), what, ": no records (a FASTA file starts each record with '>id')");
  std::map<std::string, std::int64_t> seen;
  for (const Record& r : records) {
    const auto [it, fresh] = seen.emplace(r.id, r.line);
    HPCT_CHECK(fresh, what, ": record '", r.id, "' appears twice (lines ", it->second, " and ", r.line, ")");
  }
  return records;
}

// The residues' BLOSUM rows of one sequence record.
std::vector<int> residues(const Record& r, const std::string& what) {
  std::vector<int> rows;
  for (std::size_t i = 0; i < r.body.size(); ++i) {
    const char c = r.body[i];
    if (c == ' ' || c == '\t' || c == '\n') continue;
    if (c == '*' && r.body.find_first_not_of(" \t\n", i + 1) == std::string::npos) break;  // a final stop
    const int row = residue_row(c);
    HPCT_CHECK(row >= 0, what, ": record '", r.id, "' position ", rows.size(), ": '", std::string(1, c),
               "' is no amino acid (letters: the 20 standard ones, B, J, Z, X, U, O)");
    rows.push_back(row);
  }
  HPCT_CHECK(!rows.empty(), what, ": record '", r.id, "' has no residues");
  return rows;
}

// One record's labels as doubles, NaN = no label. Lines without blanks are runs of digits, one label
// per character ('-' = none), wrapped like sequence lines; a line with blanks holds separated numbers.
std::vector<double> labels_of(const Record& r, const std::string& what) {
  std::vector<double> out;
  std::istringstream words(r.body);
  std::vector<std::string> tokens;
  for (std::string w; words >> w;) tokens.push_back(w);
  HPCT_CHECK(!tokens.empty(), what, ": record '", r.id, "' has no labels");
  if (r.body.find_first_of(" \t") == std::string::npos) {
    for (const std::string& t : tokens)
      for (const char c : t) {
        HPCT_CHECK(c == '-' || (c >= '0' && c <= '9'), what, ": record '", r.id, "' label ", out.size(), ": '",
                   std::string(1, c), "' is not a digit or '-' (separate multi-digit or decimal labels by spaces)");
        out.push_back(c == '-' ? std::nan("") : static_cast<double>(c - '0'));
      }
    return out;
  }
  for (const std::string& t : tokens) {
    char* end = nullptr;
    const double v = std::strtod(t.c_str(), &end);
    HPCT_CHECK(end && *end == '\0' && std::isfinite(v), what, ": record '", r.id, "' label ", out.size(), ": '", t,
               "' is not a finite number");
    out.push_back(v);
  }
  return out;
}

}  // namespace

Dataset read_fasta(const std::string& path, const FastaOptions& opt) {
  const std::string what = "option --fasta " + path;
  HPCT_CHECK(opt.encoding == "onehot" || opt.encoding == "blosum62", "option --encoding: unknown encoding '",
             opt.encoding, "' (valid: onehot, blosum62)");
  HPCT_CHECK(opt.task == "classification" || opt.task == "binary" || opt.task == "regression",
             "option --task: unknown task '", opt.task, "' (valid: classification, binary, regression)");
  HPCT_CHECK(opt.max_length >= 0, "option --max-length: must be >= 0, got ", opt.max_length);
  const std::vector<Record> records = read_records(path, what);
  std::vector<std::vector<int>> seqs;
  std::int64_t longest = 0;
  for (const Record& r : records) {
    seqs.push_back(residues(r, what));
    longest = std::max<std::int64_t>(longest, static_cast<std::int64_t>(seqs.back().size()));
  }
  const std::int64_t L = opt.max_length > 0 ? opt.max_length : longest;
  for (std::size_t i = 0; i < records.size(); ++i)
    HPCT_CHECK(static_cast<std::int64_t>(seqs[i].size()) <= L, what, ": record '", records[i].id, "' has ",
               seqs[i].size(), " residues, more than option --max-length ", L);

  Dataset d;
  d.source = path;
  d.n = static_cast<std::int64_t>(records.size());
  d.seq_len = L;
  const bool onehot = opt.encoding == "onehot";
  d.features = onehot ? kStandardResidues + 1 : kStandardResidues;
  d.x.assign(static_cast<std::size_t>(d.n * L * d.features), 0.0f);
  d.lengths.resize(static_cast<std::size_t>(d.n));
  for (std::int64_t n = 0; n < d.n; ++n) {
    const std::vector<int>& s = seqs[static_cast<std::size_t>(n)];
    d.lengths[static_cast<std::size_t>(n)] = static_cast<std::int32_t>(s.size());
    for (std::size_t l = 0; l < s.size(); ++l) {
      float* row = d.x.data() + (n * L + static_cast<std::int64_t>(l)) * d.features;
      if (onehot)
        row[std::min(s[l], kStandardResidues)] = 1.0f;  // B, J, Z, X: "other"
      else
        for (int c = 0; c < kStandardResidues; ++c) row[c] = kBlosum62[static_cast<std::size_t>(s[l])][c];
    }
  }
  if (opt.labels.empty()) {
    d.targets = 0;
    return d;
  }

  // Labels, matched to the sequences by id.
  const std::string lwhat = "option --labels " + opt.labels;
  const std::vector<Record> label_records = read_records(opt.labels, lwhat);
  std::map<std::string, const Record*> by_id;
  for (const Record& r : label_records) by_id[r.id] = &r;
  std::map<std::string, bool> used;
  d.token_targets = true;
  d.targets = 1;
  const bool classes = opt.task == "classification";
  d.task = classes ? Task::classification : opt.task == "binary" ? Task::binary : Task::regression;
  if (classes) d.labels.assign(static_cast<std::size_t>(d.n * L), kIgnoreLabel);
  else d.y.assign(static_cast<std::size_t>(d.n * L), 0.0f);
  std::int32_t max_class = -1;
  for (std::int64_t n = 0; n < d.n; ++n) {
    const Record& seq = records[static_cast<std::size_t>(n)];
    const auto it = by_id.find(seq.id);
    HPCT_CHECK(it != by_id.end(), lwhat, ": no labels for record '", seq.id, "' of ", path);
    used[seq.id] = true;
    const std::vector<double> v = labels_of(*it->second, lwhat);
    const std::int64_t len = d.lengths[static_cast<std::size_t>(n)];
    HPCT_CHECK(static_cast<std::int64_t>(v.size()) == len, lwhat, ": record '", seq.id, "' has ", v.size(),
               " labels for ", len, " residues");
    for (std::int64_t l = 0; l < len; ++l) {
      const double x = v[static_cast<std::size_t>(l)];
      const std::size_t at = static_cast<std::size_t>(n * L + l);
      if (classes) {
        const bool none = std::isnan(x) || x == -1.0;
        HPCT_CHECK(none || (x >= 0 && x == std::floor(x) && x < 1e6), lwhat, ": record '", seq.id, "' position ", l,
                   ": class ", x, " is not an integer >= 0 (or -1 / '-' for no label)");
        d.labels[at] = none ? kIgnoreLabel : static_cast<std::int32_t>(x);
        max_class = std::max(max_class, d.labels[at]);
      } else {
        HPCT_CHECK(!std::isnan(x), lwhat, ": record '", seq.id, "' position ", l, ": '-' (no label) needs task ",
                   "classification");
        HPCT_CHECK(opt.task != "binary" || x == 0.0 || x == 1.0, lwhat, ": record '", seq.id, "' position ", l,
                   ": binary labels are 0 or 1, got ", x);
        d.y[at] = static_cast<float>(x);
      }
    }
  }
  for (const Record& r : label_records)
    HPCT_CHECK(used.count(r.id), lwhat, ": record '", r.id, "' (line ", r.line, ") has no sequence in ", path);
  if (classes) {
    HPCT_CHECK(max_class >= 0, lwhat, ": no residue is labelled");
    d.num_classes = max_class + 1;
  }
  return d;
}

}  // namespace hpct::data
