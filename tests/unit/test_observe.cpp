// Progress formatting, the JSON line writer and the rules that name what limits a run.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "core/json.hpp"
#include "train/bottleneck.hpp"
#include "train/progress.hpp"

using namespace hpct;
using namespace hpct::train;

TEST_CASE("limiting factors: each phase past its threshold names its option, largest first") {
  PhaseTimes t;
  t.forward = 3, t.backward = 4, t.comm_wait = 1.4, t.data = 3, t.optimizer = 0.6;  // total 12
  const auto f = limiting_factors(t, 2);
  REQUIRE(f.size() == 2);
  CHECK(f[0] == "data loading 25% of the step: raise --data.workers (or load the data in memory: no --data.stream)");
  CHECK(f[1].rfind("communication exposed 12% of the step: raise --ddp.bucket-mb", 0) == 0);
}

TEST_CASE("limiting factors: below every threshold the run is compute-bound") {
  PhaseTimes t;
  t.forward = 4, t.backward = 5, t.comm_wait = 0.5, t.data = 0.3, t.optimizer = 0.2;
  const auto f = limiting_factors(t, 4);
  REQUIRE(f.size() == 1);
  CHECK(f[0].rfind("compute-bound: forward and backward 90%", 0) == 0);
  CHECK(limiting_factors(PhaseTimes{}, 1).empty());
  BottleneckThresholds strict;
  strict.comm = 0.04;
  CHECK(limiting_factors(t, 4, strict)[0].rfind("communication exposed 5%", 0) == 0);
  t.optimizer = 5;  // 5 of 14.8
  CHECK(limiting_factors(t, 4)[0].rfind("optimizer step 34%", 0) == 0);
}

TEST_CASE("json lines escape strings and write non-finite numbers as null") {
  JsonObject o;
  o.add("s", std::string("a\"b\\c\nd\x01")).add("n", 1.5).add("i", std::int64_t{7}).add("b", true);
  o.add("nan", std::numeric_limits<double>::quiet_NaN()).add("o", JsonObject().add("k", 2));
  CHECK(o.str() == "{\"s\":\"a\\\"b\\\\c\\nd\\u0001\",\"n\":1.5,\"i\":7,\"b\":true,\"nan\":null,\"o\":{\"k\":2}}");
}

TEST_CASE("progress lines and durations") {
  CHECK(format_duration(42.2) == "42s");
  CHECK(format_duration(185) == "3m05s");
  CHECK(format_duration(3720) == "1h02m");
  CHECK(format_duration(std::nan("")) == "?");
  ProgressPoint p;
  p.epoch = 2, p.epochs = 5, p.step_in_epoch = 10, p.steps_per_epoch = 40, p.step = 50;
  p.loss = 0.25, p.lr = 1e-3, p.samples_per_s = 1234.4, p.epoch_eta_s = 30, p.run_eta_s = 400;
  CHECK(Progress::format(p) ==
        "epoch 2/5 step 10/40 (50) | 1234 samples/s | loss 0.25 (this rank, epoch so far) | lr 0.001 | ETA epoch 30s, run 6m40s");
  ProgressOptions o;
  o.enabled = true, o.log_every = 3;
  Progress every3(o);
  CHECK(every3.due(1) == Progress::Due::none);
  CHECK(every3.due(3) == Progress::Due::log);
  o.enabled = false;
  CHECK(Progress(o).due(3) == Progress::Due::none);
}
