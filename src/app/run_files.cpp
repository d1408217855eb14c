#include "app/run_files.hpp"

#include <fstream>
#include <iterator>
#include <sstream>

namespace hpct::app {

std::map<std::string, std::string> ini_values(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string section;  // "name." inside [name]
  for (std::string line; std::getline(in, line);) {
    if (line.size() > 2 && line.front() == '[' && line.back() == ']') {
      section = line.substr(1, line.size() - 2) + ".";
      continue;
    }
    const auto eq = line.find(" = ");
    if (eq != std::string::npos && line.front() != '#') out[section + line.substr(0, eq)] = line.substr(eq + 3);
  }
  return out;
}

std::map<std::string, std::string> ini_file_values(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {};
  return ini_values(std::string(std::istreambuf_iterator<char>(in), {}));
}

std::vector<std::string> csv_cells(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream in(line);
  for (std::string cell; std::getline(in, cell, ',');) out.push_back(cell);
  if (!line.empty() && line.back() == ',') out.emplace_back();
  return out;
}

}  // namespace hpct::app
