#pragma once
// Options of a subcommand: dotted names (--model.widths) that are also INI sections ([model]
// widths = ...). Every option is declared with a string default and converted on use, so the
// resolved configuration prints as an INI file that reproduces the run (--config run/config.ini).
// Precedence: command line, then --config FILE, then the defaults.
#include <cstdint>
#include <istream>
#include <string>
#include <utility>
#include <vector>

#include <boost/program_options.hpp>

namespace hpct::app {

class Options {
 public:
  Options(std::string command, std::string summary);
  // An option taking a value; def "" means unset. A boolean option also accepts being given bare.
  Options& add(const std::string& name, const std::string& def, const std::string& help);
  Options& flag(const std::string& name, bool def, const std::string& help);
  // Positional arguments map to this option (e.g. info FILE).
  Options& positional(const std::string& name);
  // The --config file may hold named sections [PREFIX.NAME] with free keys (e.g. [models.mlp]),
  // kept apart from the options (Config::sections).
  Options& named_sections(const std::string& prefix);

  const std::string& command() const { return command_; }
  const std::vector<std::string>& names() const { return names_; }  // declaration order
  std::string help_text() const;

 private:
  friend class Config;
  std::string command_, summary_;
  boost::program_options::options_description desc_;
  boost::program_options::positional_options_description pos_;
  std::vector<std::string> names_;  // declaration order, for printing
  std::string section_prefix_;      // named_sections
};

// A [PREFIX.NAME] section of the --config file: its keys and values in file order.
struct NamedSection {
  std::string name;
  std::vector<std::pair<std::string, std::string>> entries;
};

class Config {
 public:
  // argv excludes the program and subcommand names. Throws hpct::Error naming an unknown or
  // malformed option, or an unreadable or malformed --config file.
  static Config parse(const Options& options, const std::vector<std::string>& args);

  bool help() const { return help_; }
  bool is_set(const std::string& name) const;  // given, or a non-empty default
  std::string str(const std::string& name) const;
  std::int64_t integer(const std::string& name) const;
  std::uint64_t unsigned_integer(const std::string& name) const;
  double real(const std::string& name) const;
  bool boolean(const std::string& name) const;
  std::vector<std::int64_t> int_list(const std::string& name) const;
  std::vector<double> real_list(const std::string& name) const;
  std::vector<std::string> str_list(const std::string& name) const;
  // A copy with option `name` (declared) set to `value`, as if given on the command line: how an
  // ensemble gives each member its own seed and run directory (saved in the member's config.ini).
  Config with(const std::string& name, const std::string& value) const;
  bool declared(const std::string& name) const;  // an option of this command
  // The [PREFIX.NAME] sections of the --config file (Options::named_sections), in file order.
  const std::vector<NamedSection>& sections() const { return sections_; }

  // The resolved configuration as INI text: top-level options first, then one section per prefix.
  std::string to_ini() const;

 private:
  // Moves the [prefix.NAME] sections of a config file's text into sections_; returns the rest.
  std::string take_sections(std::istream& in, const std::string& prefix, const std::string& file);

  const Options* options_ = nullptr;
  boost::program_options::variables_map vm_;
  bool help_ = false;
  std::vector<NamedSection> sections_;
};

}  // namespace hpct::app
