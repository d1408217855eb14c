#include "app/config.hpp"

#include <charconv>
#include <fstream>
#include <map>
#include <sstream>

#include "core/error.hpp"

namespace po = boost::program_options;

namespace hpct::app {
namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) out.push_back(trim(item));
  return out;
}

template <class T>
bool parse_number(const std::string& text, T& value) {
  const std::string t = trim(text);
  const char* end = t.data() + t.size();
  const auto r = std::from_chars(t.data(), end, value);
  return !t.empty() && r.ec == std::errc() && r.ptr == end;
}

}  // namespace

Options::Options(std::string command, std::string summary)
    : command_(std::move(command)), summary_(std::move(summary)), desc_("Options") {
  desc_.add_options()("help,h", "show this help")("config", po::value<std::string>(),
                                                  "INI file of options ([section] key = value); the command line wins");
}

Options& Options::add(const std::string& name, const std::string& def, const std::string& help) {
  auto* v = po::value<std::string>();
  if (!def.empty()) v->default_value(def);
  desc_.add_options()(name.c_str(), v, help.c_str());
  names_.push_back(name);
  return *this;
}

Options& Options::flag(const std::string& name, bool def, const std::string& help) {
  auto* v = po::value<std::string>()->default_value(def ? "true" : "false")->implicit_value("true");
  desc_.add_options()(name.c_str(), v, help.c_str());
  names_.push_back(name);
  return *this;
}

Options& Options::positional(const std::string& name) {
  pos_.add(name.c_str(), 1);
  return *this;
}

Options& Options::named_sections(const std::string& prefix) {
  section_prefix_ = prefix;
  return *this;
}

std::string Options::help_text() const {
  std::ostringstream os;
  os << "usage: hpctrain " << command_ << " [options]\n" << summary_ << "\n\n" << desc_;
  return os.str();
}

Config Config::parse(const Options& options, const std::vector<std::string>& args) {
  Config c;
  c.options_ = &options;
  try {
    // No prefix guessing: a misspelled option is an error, never silently another option.
    const int style = po::command_line_style::default_style & ~po::command_line_style::allow_guessing;
    po::store(po::command_line_parser(args).options(options.desc_).positional(options.pos_).style(style).run(),
              c.vm_);
    if (c.vm_.count("config")) {
      const std::string file = c.vm_["config"].as<std::string>();
      std::ifstream file_in(file);
      HPCT_CHECK(file_in, "--config ", file, ": cannot open the file");
      std::istringstream in(c.take_sections(file_in, options.section_prefix_, file));
      try {
        po::store(po::parse_config_file(in, options.desc_, false), c.vm_);
      } catch (const po::error& e) {
        fail("--config ", file, ": ", e.what());
      }
    }
    po::notify(c.vm_);
  } catch (const po::error& e) {
    fail("hpctrain ", options.command_, ": ", e.what(), " (see hpctrain ", options.command_, " --help)");
  }
  c.help_ = c.vm_.count("help") > 0;
  return c;
}

bool Config::is_set(const std::string& name) const { return vm_.count(name) && !str(name).empty(); }

std::string Config::str(const std::string& name) const {
  const auto it = vm_.find(name);
  return it == vm_.end() ? std::string() : it->second.as<std::string>();
}

std::int64_t Config::integer(const std::string& name) const {
  std::int64_t v = 0;
  HPCT_CHECK(parse_number(str(name), v), "option --", name, ": '", str(name), "' is not an integer");
  return v;
}

std::uint64_t Config::unsigned_integer(const std::string& name) const {
  std::uint64_t v = 0;
  HPCT_CHECK(parse_number(str(name), v), "option --", name, ": '", str(name), "' is not a non-negative integer");
  return v;
}

double Config::real(const std::string& name) const {
  double v = 0;
  HPCT_CHECK(parse_number(str(name), v), "option --", name, ": '", str(name), "' is not a number");
  return v;
}

bool Config::boolean(const std::string& name) const {
  const std::string v = trim(str(name));
  if (v == "true" || v == "1" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "0" || v == "no" || v == "off") return false;
  fail("option --", name, ": '", v, "' is not a boolean (true/false)");
}

std::vector<std::int64_t> Config::int_list(const std::string& name) const {
  std::vector<std::int64_t> out;
  if (trim(str(name)).empty()) return out;
  for (const std::string& item : split_commas(str(name))) {
    std::int64_t v = 0;
    HPCT_CHECK(parse_number(item, v), "option --", name, ": '", str(name),
               "' is not a comma-separated list of integers");
    out.push_back(v);
  }
  return out;
}

std::vector<double> Config::real_list(const std::string& name) const {
  std::vector<double> out;
  if (trim(str(name)).empty()) return out;
  for (const std::string& item : split_commas(str(name))) {
    double v = 0;
    HPCT_CHECK(parse_number(item, v), "option --", name, ": '", str(name),
               "' is not a comma-separated list of numbers");
    out.push_back(v);
  }
  return out;
}

std::vector<std::string> Config::str_list(const std::string& name) const {
  if (trim(str(name)).empty()) return {};
  return split_commas(str(name));
}

std::string Config::take_sections(std::istream& in, const std::string& prefix, const std::string& file) {
  std::ostringstream rest;
  NamedSection* current = nullptr;
  int lineno = 0;
  for (std::string line; std::getline(in, line);) {
    ++lineno;
    const std::string t = trim(line);
    if (!t.empty() && t.front() == '[') {
      const std::string name = t.back() == ']' ? trim(t.substr(1, t.size() - 2)) : std::string();
      current = nullptr;
      if (!prefix.empty() && name.rfind(prefix + ".", 0) == 0) {
        sections_.push_back({name.substr(prefix.size() + 1), {}});
        current = &sections_.back();
        rest << '\n';  // keeps line numbers in boost's messages
        continue;
      }
    } else if (current) {
      if (!t.empty() && t.front() != '#' && t.front() != ';') {
        const auto eq = t.find('=');
        HPCT_CHECK(eq != std::string::npos, "--config ", file, " line ", lineno, ": '", t, "' in [", prefix, ".",
                   current->name, "] is not key = value");
        current->entries.emplace_back(trim(t.substr(0, eq)), trim(t.substr(eq + 1)));
      }
      rest << '\n';
      continue;
    }
    rest << line << '\n';
  }
  return rest.str();
}

bool Config::declared(const std::string& name) const {
  return options_ && options_->desc_.find_nothrow(name, false) != nullptr;
}

Config Config::with(const std::string& name, const std::string& value) const {
  HPCT_CHECK(options_ && options_->desc_.find_nothrow(name, false), "Config::with: no option ", name);
  Config c = *this;
  c.vm_.erase(name);
  c.vm_.emplace(name, po::variable_value(boost::any(value), false));
  return c;
}

std::string Config::to_ini() const {
  std::map<std::string, std::vector<std::string>> sections;  // "" first: top-level options
  for (const std::string& name : options_->names_) {
    if (!vm_.count(name)) continue;
    const auto dot = name.find('.');
    const std::string section = dot == std::string::npos ? "" : name.substr(0, dot);
    const std::string key = dot == std::string::npos ? name : name.substr(dot + 1);
    sections[section].push_back(key + " = " + str(name));
  }
  std::ostringstream os;
  for (const auto& [section, lines] : sections) {
    if (!section.empty()) os << "\n[" << section << "]\n";
    for (const std::string& l : lines) os << l << '\n';
  }
  return os.str();
}

}  // namespace hpct::app
