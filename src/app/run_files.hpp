#pragma once
// Reading back the text files a run writes: the INI text of its resolved configuration (config.ini,
// Config::to_ini, also in the start event of events.jsonl; ensemble.ini) and the cells of a CSV line
// (metrics.csv, the ensemble summary).
#include <map>
#include <string>
#include <vector>

namespace hpct::app {

// The "key = value" lines of an INI text by dotted name: "section.key" under [section], "key" before
// any section; other lines (# comments, blanks) are skipped. The value is the rest of the line after the
// first " = ", as written (a later line of the same name wins). Not Boost's parse_config_file: that
// one cuts values at '#' and knows only declared options, and these texts are Config::to_ini's own.
std::map<std::string, std::string> ini_values(const std::string& text);
// ini_values of a file's text; empty when the file cannot be read.
std::map<std::string, std::string> ini_file_values(const std::string& path);

// A CSV line's cells as written (no quotes, no trimming); a trailing comma gives a last empty cell.
std::vector<std::string> csv_cells(const std::string& line);

}  // namespace hpct::app
