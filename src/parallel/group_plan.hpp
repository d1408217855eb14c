#pragma once
// Which ranks form which group, and what each group trains (pure logic: no MPI calls; every rank
// computes the same plan from the same options, then splits the world with color = group_of_rank,
// key = rank_in_group).
//
// Groups: G groups of W / G ranks each, contiguous: group g holds ranks [g W/G, (g + 1) W/G). G must
// divide W so that every group runs the same data-parallel engine on an equal share (otherwise an
// error lists the divisors that would work). G = 0 derives it: the largest divisor of W that is at
// most the number of jobs (members or models). That is min(W, M) whenever that divides W; 3 models on
// 4 ranks get 2 groups of 2 ranks (not 3 groups of unequal size), balanced by weight; an explicit
// --groups 4 trains the 3 at once and leaves one rank idle.
//
// Ensembles: member m trains on group m mod G, as number floor(m / G) of that group's sequence
// (groups train their members one after another), with seed member_seed(seed, m).
//
// Several models: a model with an explicit group trains there; the others, heaviest first (config
// order among equal weights), go to the group with the least total weight so far, the lowest index
// on ties (greedy longest-processing-time). Each group trains its models in config order.
#include <cstdint>
#include <string>
#include <vector>

namespace hpct::dist {

// Model types a [models.NAME] section may name.
const std::vector<std::string>& known_model_types();  // mlp, transformer-tabular, transformer, lm, ssvae

// Seed of ensemble member m: seed + 1000003 m (mod 2^64). Member 0 keeps the job's seed, so a
// one-member ensemble is the plain run, and member m can be reproduced alone with --seed
// member_seed(seed, m). Distinct for all members of one job: 1000003 is odd, so m -> 1000003 m is a
// bijection mod 2^64. (Runs with seeds that differ by a multiple of 1000003 share member seeds.)
std::uint64_t member_seed(std::uint64_t seed, std::int64_t member);

// The divisors of n, ascending.
std::vector<int> divisors(int n);
// The derived group count: the largest divisor of world_size that is <= jobs (jobs >= 1).
int derive_groups(int world_size, std::int64_t jobs);

struct ModelRequest {
  std::string name;     // the section [models.NAME]
  std::string type;     // one of the known types
  double weight = 1.0;  // relative cost (e.g. parameters x steps); > 0
  int group = -1;       // explicit group, or -1: by weight
};

struct MemberSlot {
  std::int64_t member = 0;
  std::int64_t order = 0;  // position in its group's sequence: floor(member / G)
  std::uint64_t seed = 0;  // member_seed(seed, member)
};

struct Group {
  int index = 0;
  int first_rank = 0, ranks = 0;    // world ranks [first_rank, first_rank + ranks)
  std::vector<MemberSlot> members;  // in training order
  std::vector<int> models;          // indices into GroupPlan::models, in training order
  double load = 0;                  // total weight of its models
  bool idle() const { return members.empty() && models.empty(); }
};

struct GroupPlan {
  int world_size = 1;
  std::int64_t members = 0;          // ensemble plans
  std::uint64_t seed = 0;            // ensemble plans: the job's seed
  std::vector<ModelRequest> models;  // model plans, as requested
  std::vector<Group> groups;

  int group_count() const { return static_cast<int>(groups.size()); }
  int ranks_per_group() const { return world_size / group_count(); }
  int group_of_rank(int rank) const;  // color for Communicator::split
  int rank_in_group(int rank) const;  // key for Communicator::split
  int group_of_member(std::int64_t member) const;
  int group_of_model(const std::string& name) const;  // -1 when no such model
};

// An ensemble of `members` on world_size ranks in `groups` groups (0: derived). Errors (hpct::Error
// naming the option and value): members < 1, groups < 0, more groups than ranks, groups not
// dividing the ranks.
GroupPlan plan_ensemble(int world_size, int groups, std::int64_t members, std::uint64_t seed);

// Several models at once. Errors besides plan_ensemble's: no models, a repeated or empty name, a
// type not in known_types, a weight that is not positive and finite, an explicit group that does not
// exist.
GroupPlan plan_models(int world_size, int groups, const std::vector<ModelRequest>& models,
                      const std::vector<std::string>& known_types = known_model_types());

// The plan as printed by world rank 0, one line per group, e.g.
//   group plan: 4 ranks, 2 groups of 2 ranks, 8 members (seed 7 + 1000003 m)
//   group 0: ranks 0-1: members 0, 2, 4, 6
//   group 1: ranks 2-3: members 1, 3, 5, 7
// or "group 0: ranks 0-1: models transformer, mlp (load 3)"; a group with nothing to train is "idle".
std::string describe(const GroupPlan& plan);

}  // namespace hpct::dist
