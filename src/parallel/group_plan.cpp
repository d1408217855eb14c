#include "parallel/group_plan.hpp"

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include "core/error.hpp"

namespace hpct::dist {

namespace {

// "1, 2 or 4"
std::string or_list(const std::vector<int>& v) {
  std::ostringstream os;
  for (std::size_t i = 0; i < v.size(); ++i) os << (i == 0 ? "" : i + 1 == v.size() ? " or " : ", ") << v[i];
  return os.str();
}

std::string ranks_text(int n) { return cat(n, n == 1 ? " rank" : " ranks"); }

// G groups of W / G ranks; `requested` 0 means derive from `jobs`.
std::vector<Group> make_groups(int world_size, int requested, std::int64_t jobs) {
  HPCT_CHECK(world_size >= 1, "group plan: world size ", world_size, " (must be at least 1)");
  HPCT_CHECK(requested >= 0, "--groups ", requested, ": must be 0 (derived) or a positive count");
  const int g_count = requested == 0 ? derive_groups(world_size, jobs) : requested;
  HPCT_CHECK(g_count <= world_size, "--groups ", g_count, ": more groups than the ", ranks_text(world_size),
             " (each group needs at least one rank); use ", or_list(divisors(world_size)));
  HPCT_CHECK(world_size % g_count == 0, "--groups ", g_count, " does not divide the ", ranks_text(world_size), "; use ",
             or_list(divisors(world_size)));
  std::vector<Group> groups(static_cast<std::size_t>(g_count));
  const int size = world_size / g_count;
  for (int g = 0; g < g_count; ++g) {
    groups[static_cast<std::size_t>(g)].index = g;
    groups[static_cast<std::size_t>(g)].first_rank = g * size;
    groups[static_cast<std::size_t>(g)].ranks = size;
  }
  return groups;
}

}  // namespace

const std::vector<std::string>& known_model_types() {
  static const std::vector<std::string> types{"mlp", "transformer-tabular", "transformer", "lm", "ssvae"};
  return types;
}

std::uint64_t member_seed(std::uint64_t seed, std::int64_t member) {
  return seed + 1000003ull * static_cast<std::uint64_t>(member);  // wraps mod 2^64 by definition
}

std::vector<int> divisors(int n) {
  std::vector<int> d;
  for (int i = 1; i <= n; ++i)
    if (n % i == 0) d.push_back(i);
  return d;
}

int derive_groups(int world_size, std::int64_t jobs) {
  HPCT_CHECK(world_size >= 1, "group plan: world size ", world_size, " (must be at least 1)");
  HPCT_CHECK(jobs >= 1, "group plan: ", jobs, " jobs to place (must be at least 1)");
  int best = 1;
  for (int d : divisors(world_size))
    if (d <= jobs) best = d;
  return best;
}

int GroupPlan::group_of_rank(int rank) const {
  HPCT_CHECK(rank >= 0 && rank < world_size, "group plan: rank ", rank, " outside the world of ", world_size);
  return rank / ranks_per_group();
}

int GroupPlan::rank_in_group(int rank) const { return rank - group_of_rank(rank) * ranks_per_group(); }

int GroupPlan::group_of_member(std::int64_t member) const {
  HPCT_CHECK(member >= 0 && member < members, "group plan: member ", member, " outside the ", members, " members");
  return static_cast<int>(member % group_count());
}

int GroupPlan::group_of_model(const std::string& name) const {
  for (const Group& g : groups)
    for (int m : g.models)
      if (models[static_cast<std::size_t>(m)].name == name) return g.index;
  return -1;
}

GroupPlan plan_ensemble(int world_size, int groups, std::int64_t members, std::uint64_t seed) {
  HPCT_CHECK(members >= 1, "--ensemble.members ", members, ": an ensemble needs at least one member");
  GroupPlan plan;
  plan.world_size = world_size;
  plan.members = members;
  plan.seed = seed;
  plan.groups = make_groups(world_size, groups, members);
  const std::int64_t g_count = plan.group_count();
  for (std::int64_t m = 0; m < members; ++m)
    plan.groups[static_cast<std::size_t>(m % g_count)].members.push_back({m, m / g_count, member_seed(seed, m)});
  return plan;
}

GroupPlan plan_models(int world_size, int groups, const std::vector<ModelRequest>& models,
                      const std::vector<std::string>& known_types) {
  HPCT_CHECK(!models.empty(), "no models to train: the configuration has no [models.NAME] section");
  std::set<std::string> names;
  for (const ModelRequest& m : models) {
    HPCT_CHECK(!m.name.empty(), "a [models.NAME] section has an empty name");
    HPCT_CHECK(names.insert(m.name).second, "[models.", m.name, "] is given twice");
    if (std::find(known_types.begin(), known_types.end(), m.type) == known_types.end()) {
      std::string valid;
      for (const auto& t : known_types) valid += (valid.empty() ? "" : ", ") + t;
      fail("--models.", m.name, ".type '", m.type, "' is not a known model type (valid: ", valid, ")");
    }
    HPCT_CHECK(std::isfinite(m.weight) && m.weight > 0, "--models.", m.name, ".weight ", m.weight,
               ": must be positive and finite");
  }
  GroupPlan plan;
  plan.world_size = world_size;
  plan.models = models;
  plan.groups = make_groups(world_size, groups, static_cast<std::int64_t>(models.size()));
  const int g_count = plan.group_count();

  std::vector<int> assigned(models.size(), -1);
  for (std::size_t i = 0; i < models.size(); ++i) {
    const ModelRequest& m = models[i];
    if (m.group == -1) continue;
    HPCT_CHECK(m.group >= 0 && m.group < g_count, "--models.", m.name, ".group ", m.group, ": there ",
               g_count == 1 ? "is 1 group (0)" : cat("are ", g_count, " groups (0-", g_count - 1, ")"),
               "; choose one of them or set --groups");
    assigned[i] = m.group;
    plan.groups[static_cast<std::size_t>(m.group)].load += m.weight;
  }
  // Heaviest first, config order among equals (stable sort), each to the least-loaded group.
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < models.size(); ++i)
    if (assigned[i] < 0) order.push_back(i);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return models[a].weight > models[b].weight; });
  for (std::size_t i : order) {
    // min_element returns the first of equal minima: ties go to the lowest index.
    auto least = std::min_element(plan.groups.begin(), plan.groups.end(),
                                  [](const Group& a, const Group& b) { return a.load < b.load; });
    assigned[i] = least->index;
    least->load += models[i].weight;
  }
  for (std::size_t i = 0; i < models.size(); ++i)
    plan.groups[static_cast<std::size_t>(assigned[i])].models.push_back(static_cast<int>(i));
  return plan;
}

std::string describe(const GroupPlan& plan) {
  std::ostringstream os;
  const int size = plan.ranks_per_group();
  os << "group plan: " << plan.world_size << (plan.world_size == 1 ? " rank, " : " ranks, ") << plan.group_count()
     << (plan.group_count() == 1 ? " group of " : " groups of ") << size << (size == 1 ? " rank, " : " ranks, ");
  if (plan.models.empty())
    os << plan.members << (plan.members == 1 ? " member" : " members") << " (seed " << plan.seed
       << " + 1000003 m)";
  else
    os << plan.models.size() << (plan.models.size() == 1 ? " model" : " models");
  for (const Group& g : plan.groups) {
    os << "\ngroup " << g.index << ": ";
    if (g.ranks == 1)
      os << "rank " << g.first_rank;
    else
      os << "ranks " << g.first_rank << "-" << g.first_rank + g.ranks - 1;
    os << ": ";
    if (g.idle()) {
      os << "idle";
    } else if (!g.members.empty()) {
      os << (g.members.size() == 1 ? "member " : "members ");
      for (std::size_t i = 0; i < g.members.size(); ++i) os << (i ? ", " : "") << g.members[i].member;
    } else {
      os << (g.models.size() == 1 ? "model " : "models ");
      for (std::size_t i = 0; i < g.models.size(); ++i)
        os << (i ? ", " : "") << plan.models[static_cast<std::size_t>(g.models[i])].name;
      os << " (load " << g.load << ")";
    }
  }
  return os.str();
}

}  // namespace hpct::dist
