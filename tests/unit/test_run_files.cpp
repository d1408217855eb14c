// Reading back a run's text files: config.ini (the INI text of Config::to_ini) by dotted name, and the
// cells of a metrics.csv line.
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "app/config.hpp"
#include "app/run_files.hpp"

using namespace hpct;

TEST_CASE("ini_values reads Config::to_ini back by dotted name") {
  app::Options o("train", "test");
  o.add("epochs", "3", "").add("model.widths", "64,64", "").add("model.type", "mlp", "");
  o.add("data.train", "", "").add("run-dir", "", "");
  // A value with " = " and '#' in it stays whole (Boost's config parser would cut it at '#').
  const app::Config c = app::Config::parse(o, {"--data.train", "a = b#c.h5", "--run-dir", ""});
  const std::map<std::string, std::string> kv = app::ini_values(c.to_ini());
  const std::map<std::string, std::string> expected = {
      {"epochs", "3"}, {"model.widths", "64,64"}, {"model.type", "mlp"}, {"data.train", "a = b#c.h5"}, {"run-dir", ""}};
  CHECK(kv == expected);
  // Comments and lines without " = " are skipped; keys under [members] are "members.KEY".
  CHECK(app::ini_values("# members = 9\nmembers = 4\n\n[members]\nmember-000 = group 0\nx\n") ==
        std::map<std::string, std::string>{{"members", "4"}, {"members.member-000", "group 0"}});
  CHECK(app::ini_file_values("/nonexistent/config.ini").empty());
}

TEST_CASE("csv_cells keeps empty cells, also a trailing one") {
  CHECK(app::csv_cells("epoch,loss,val_loss") == std::vector<std::string>{"epoch", "loss", "val_loss"});
  CHECK(app::csv_cells("1,,0.5") == std::vector<std::string>{"1", "", "0.5"});
  CHECK(app::csv_cells("1,2,") == std::vector<std::string>{"1", "2", ""});
  CHECK(app::csv_cells(" a ,b") == std::vector<std::string>{" a ", "b"});
  CHECK(app::csv_cells("").empty());
}
