#include <doctest/doctest.h>

#include <limits>
#include <set>
#include <string>
#include <vector>

#include "parallel/group_plan.hpp"
#include "test_support.hpp"

using namespace hpct::dist;
using hpct::test::check_error;

namespace {

std::vector<std::int64_t> members_of(const Group& g) {
  std::vector<std::int64_t> out;
  for (const auto& s : g.members) out.push_back(s.member);
  return out;
}

std::vector<std::string> models_of(const GroupPlan& p, int g) {
  std::vector<std::string> out;
  for (int m : p.groups[static_cast<std::size_t>(g)].models) out.push_back(p.models[static_cast<std::size_t>(m)].name);
  return out;
}

}  // namespace

TEST_CASE("group plan: 8 members over 2 groups of 2 ranks (-np 4)") {
  const GroupPlan p = plan_ensemble(4, 2, 8, 7);
  REQUIRE(p.group_count() == 2);
  CHECK(p.ranks_per_group() == 2);
  CHECK(p.groups[0].first_rank == 0);
  CHECK(p.groups[1].first_rank == 2);
  CHECK(members_of(p.groups[0]) == std::vector<std::int64_t>{0, 2, 4, 6});
  CHECK(members_of(p.groups[1]) == std::vector<std::int64_t>{1, 3, 5, 7});
  // Order within the group and seeds.
  CHECK(p.groups[1].members[2].order == 2);  // member 5 is group 1's third
  CHECK(p.groups[1].members[2].seed == 7 + 5 * 1000003ull);
  CHECK(p.groups[0].members[0].seed == 7);  // member 0 keeps the job's seed
  // Split colors and keys.
  const int color[] = {0, 0, 1, 1}, key[] = {0, 1, 0, 1};
  for (int r = 0; r < 4; ++r) {
    CHECK(p.group_of_rank(r) == color[r]);
    CHECK(p.rank_in_group(r) == key[r]);
  }
  CHECK(p.group_of_member(5) == 1);
  CHECK(describe(p) ==
        "group plan: 4 ranks, 2 groups of 2 ranks, 8 members (seed 7 + 1000003 m)\n"
        "group 0: ranks 0-1: members 0, 2, 4, 6\n"
        "group 1: ranks 2-3: members 1, 3, 5, 7");
}

TEST_CASE("group plan: 5 members on 4 groups (uneven: group 0 trains two)") {
  const GroupPlan p = plan_ensemble(4, 4, 5, 1);
  REQUIRE(p.group_count() == 4);
  CHECK(members_of(p.groups[0]) == std::vector<std::int64_t>{0, 4});
  CHECK(members_of(p.groups[1]) == std::vector<std::int64_t>{1});
  CHECK(members_of(p.groups[3]) == std::vector<std::int64_t>{3});
  CHECK(p.groups[0].members[1].order == 1);
  CHECK(describe(p) ==
        "group plan: 4 ranks, 4 groups of 1 rank, 5 members (seed 1 + 1000003 m)\n"
        "group 0: rank 0: members 0, 4\n"
        "group 1: rank 1: member 1\n"
        "group 2: rank 2: member 2\n"
        "group 3: rank 3: member 3");
  // The same 5 members on 8 ranks in 4 groups of 2.
  const GroupPlan q = plan_ensemble(8, 4, 5, 1);
  CHECK(q.groups[3].first_rank == 6);
  CHECK(q.group_of_rank(7) == 3);
  CHECK(members_of(q.groups[0]) == std::vector<std::int64_t>{0, 4});
}

TEST_CASE("group plan: derived groups are the largest divisor of the ranks not above the jobs") {
  CHECK(divisors(12) == std::vector<int>{1, 2, 3, 4, 6, 12});
  CHECK(derive_groups(4, 50) == 4);  // min(W, M) = 4
  CHECK(derive_groups(4, 3) == 2);   // min = 3 does not divide 4
  CHECK(derive_groups(4, 1) == 1);
  CHECK(derive_groups(6, 5) == 3);
  CHECK(derive_groups(7, 3) == 1);   // a prime world with fewer jobs: one group
  CHECK(plan_ensemble(4, 0, 50, 1).group_count() == 4);
  CHECK(plan_ensemble(4, 0, 3, 1).group_count() == 2);
  // 50 members round-robin over 4 groups: 13, 13, 12, 12.
  const GroupPlan p = plan_ensemble(4, 0, 50, 1);
  CHECK(p.groups[0].members.size() == 13);
  CHECK(p.groups[1].members.size() == 13);
  CHECK(p.groups[2].members.size() == 12);
  CHECK(p.groups[3].members.back().member == 47);
  CHECK(p.groups[3].members.back().order == 11);
}

TEST_CASE("group plan: member seeds are deterministic and distinct") {
  std::set<std::uint64_t> seen;
  for (std::int64_t m = 0; m < 1000; ++m) CHECK(seen.insert(member_seed(42, m)).second);
  CHECK(member_seed(42, 3) == member_seed(42, 3));
  CHECK(member_seed(42, 0) == 42);
  CHECK(member_seed(std::numeric_limits<std::uint64_t>::max(), 1) == 1000002);  // wraps mod 2^64
}

TEST_CASE("group plan: 3 models on 4 ranks") {
  const std::vector<ModelRequest> models{{"transformer", "transformer", 3.0, -1},
                                         {"tabular", "transformer-tabular", 2.0, -1},
                                         {"mlp", "mlp", 1.0, -1}};
  // Derived: 2 groups of 2 ranks. Heaviest first: transformer -> 0 (3), tabular -> 1 (2), mlp -> 1 (3).
  const GroupPlan p = plan_models(4, 0, models);
  REQUIRE(p.group_count() == 2);
  CHECK(models_of(p, 0) == std::vector<std::string>{"transformer"});
  CHECK(models_of(p, 1) == std::vector<std::string>{"tabular", "mlp"});
  CHECK(p.groups[0].load == 3.0);
  CHECK(p.groups[1].load == 3.0);
  CHECK(p.group_of_model("mlp") == 1);
  CHECK(p.group_of_model("none") == -1);
  CHECK(describe(p) ==
        "group plan: 4 ranks, 2 groups of 2 ranks, 3 models\n"
        "group 0: ranks 0-1: model transformer (load 3)\n"
        "group 1: ranks 2-3: models tabular, mlp (load 3)");

  // --groups 3 does not divide 4 ranks.
  check_error([&] { plan_models(4, 3, models); }, {"--groups 3 does not divide the 4 ranks", "use 1, 2 or 4"});

  // --groups 4: all three at once, one rank idle.
  const GroupPlan all = plan_models(4, 4, models);
  CHECK(models_of(all, 0) == std::vector<std::string>{"transformer"});
  CHECK(models_of(all, 1) == std::vector<std::string>{"tabular"});
  CHECK(models_of(all, 2) == std::vector<std::string>{"mlp"});
  CHECK(all.groups[3].idle());
  CHECK(describe(all).find("group 3: rank 3: idle") != std::string::npos);

  // An explicit group wins and counts towards the load: mlp on group 0 (1), then transformer -> 1
  // (3), tabular -> 0 (3). Within a group, config order.
  auto explicit_models = models;
  explicit_models[2].group = 0;
  const GroupPlan e = plan_models(4, 2, explicit_models);
  CHECK(models_of(e, 0) == std::vector<std::string>{"tabular", "mlp"});
  CHECK(models_of(e, 1) == std::vector<std::string>{"transformer"});
}

TEST_CASE("group plan: greedy by weight is deterministic, ties go to the lowest group") {
  // Equal weights: config order, each to the lowest least-loaded group: a->0, b->1, c->0, d->1.
  const std::vector<ModelRequest> equal{
      {"a", "mlp", 1, -1}, {"b", "mlp", 1, -1}, {"c", "mlp", 1, -1}, {"d", "mlp", 1, -1}};
  const GroupPlan p = plan_models(2, 2, equal);
  CHECK(models_of(p, 0) == std::vector<std::string>{"a", "c"});
  CHECK(models_of(p, 1) == std::vector<std::string>{"b", "d"});
  // Heaviest first (w 5, y 4, then v, x, z of 3 in config order), each to the least-loaded group:
  // w->0, y->1, v->1 (7), x->0 (8), z->1 (10); each group lists its models in config order.
  const std::vector<ModelRequest> w{{"v", "lm", 3, -1}, {"w", "lm", 5, -1}, {"x", "lm", 3, -1}, {"y", "lm", 4, -1},
                                    {"z", "lm", 3, -1}};
  const GroupPlan q = plan_models(2, 0, w);
  CHECK(models_of(q, 0) == std::vector<std::string>{"w", "x"});
  CHECK(models_of(q, 1) == std::vector<std::string>{"v", "y", "z"});
  CHECK(q.groups[0].load == 8);
  CHECK(q.groups[1].load == 10);
  CHECK(describe(plan_models(2, 0, w)) == describe(q));
}

TEST_CASE("group plan: bad input names the option and the value") {
  check_error([] { plan_ensemble(4, 2, 0, 1); }, {"--ensemble.members 0", "at least one member"});
  check_error([] { plan_ensemble(4, 2, -3, 1); }, {"--ensemble.members -3"});
  check_error([] { plan_ensemble(4, 8, 8, 1); }, {"--groups 8", "more groups than the 4 ranks", "use 1, 2 or 4"});
  check_error([] { plan_ensemble(4, 3, 8, 1); }, {"--groups 3 does not divide the 4 ranks; use 1, 2 or 4"});
  check_error([] { plan_ensemble(6, 4, 8, 1); }, {"--groups 4", "6 ranks", "use 1, 2, 3 or 6"});
  check_error([] { plan_ensemble(4, -1, 8, 1); }, {"--groups -1"});
  check_error([] { plan_ensemble(1, 2, 8, 1); }, {"--groups 2", "more groups than the 1 rank ", "use 1"});

  check_error([] { plan_models(4, 0, {}); }, {"no models", "[models.NAME]"});
  check_error([] { plan_models(4, 0, {{"mlp", "mlp", 1, -1}, {"mlp", "transformer", 1, -1}}); },
              {"[models.mlp]", "twice"});
  check_error([] { plan_models(4, 0, {{"cnn", "resnet", 1, -1}}); },
              {"--models.cnn.type 'resnet'", "not a known model type", "mlp, transformer-tabular, transformer, lm"});
  check_error([] { plan_models(4, 0, {{"a", "custom", 1, -1}}, {"mlp"}); }, {"'custom'", "(valid: mlp)"});
  check_error([] { plan_models(4, 2, {{"mlp", "mlp", 1, 2}}); }, {"--models.mlp.group 2", "2 groups (0-1)"});
  check_error([] { plan_models(4, 1, {{"mlp", "mlp", 1, -5}}); }, {"--models.mlp.group -5", "1 group (0)"});
  check_error([] { plan_models(4, 0, {{"mlp", "mlp", 0, -1}}); }, {"--models.mlp.weight 0", "positive"});
  check_error([] { plan_models(4, 0, {{"mlp", "mlp", std::numeric_limits<double>::infinity(), -1}}); },
              {"--models.mlp.weight inf"});
  check_error([] { plan_models(4, 0, {{"", "mlp", 1, -1}}); }, {"empty name"});
}
