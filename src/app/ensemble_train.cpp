// hpctrain train --ensemble.members M [--groups G]: the world is split into G groups of ranks
// (dist/group_plan.hpp); each group trains its members one after another, data-parallel on the
// group's communicator, member m with seed member_seed(seed, m) into RUN/member-XXX as a normal run.
// At the end world rank 0 gathers each member's last metrics row over MPI and writes
// RUN/ensemble.csv and RUN/ensemble.ini.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <unistd.h>

#include "app/ensemble.hpp"
#include "app/run_files.hpp"
#include "core/atomic_file.hpp"
#include "core/log.hpp"
#include "core/stop_signal.hpp"
#include "parallel/group_plan.hpp"
#include "parallel/stop_relay.hpp"
#include "train/checkpoint.hpp"
#include "train/uncertainty.hpp"

namespace hpct::app {

std::string member_dir(const std::string& run_dir, std::int64_t member) {
  std::ostringstream name;
  name << "member-" << std::setw(3) << std::setfill('0') << member;
  return (std::filesystem::path(run_dir) / name.str()).string();
}

bool is_ensemble_run(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  return fs::is_directory(path, ec) &&
         (fs::exists(fs::path(path) / "ensemble.ini", ec) || fs::exists(fs::path(member_dir(path, 0)) / "model.h5", ec));
}

namespace {

// Empty when rank 0 can create run_dir and write a file in it, else why not.
std::string probe_run_dir(const std::string& run_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(run_dir, ec);
  if (ec) return cat("option --run-dir: cannot create ", run_dir, ": ", ec.message());
  const std::string probe = (fs::path(run_dir) / cat(".probe.", ::getpid())).string();
  std::ofstream(probe) << "probe\n";
  std::ifstream back(probe);
  std::string line;
  const bool ok = static_cast<bool>(std::getline(back, line)) && line == "probe";
  std::remove(probe.c_str());
  return ok ? std::string() : cat("option --run-dir: cannot write files in ", run_dir);
}

// Every rank of comm learns whether any rank has a problem (a sum over the ranks, collective).
bool any_rank(dist::Communicator& comm, bool mine) {
  double flag = mine ? 1.0 : 0.0;
  comm.allreduce(Tensor(&flag, {1}, DType::f64), dist::ReduceOp::sum)->wait_host();
  return flag > 0.0;
}

// Every rank's text, in rank order, on every rank (lengths first, then the padded bytes).
std::vector<std::string> allgather_text(dist::Communicator& comm, const std::string& mine) {
  const int p = comm.size();
  std::int64_t len = static_cast<std::int64_t>(mine.size());
  std::vector<std::int64_t> lens(static_cast<std::size_t>(p));
  comm.allgather(Tensor(&len, {1}, DType::i64), Tensor(lens.data(), {p}, DType::i64))->wait_host();
  const std::int64_t words = (*std::max_element(lens.begin(), lens.end()) + 3) / 4 + 1;
  std::vector<std::int32_t> send(static_cast<std::size_t>(words), 0), recv(static_cast<std::size_t>(words * p));
  std::copy(mine.begin(), mine.end(), reinterpret_cast<char*>(send.data()));
  comm.allgather(Tensor(send.data(), {words}, DType::i32), Tensor(recv.data(), {words * p}, DType::i32))->wait_host();
  std::vector<std::string> out;
  for (int r = 0; r < p; ++r)
    out.emplace_back(reinterpret_cast<const char*>(recv.data() + r * words), static_cast<std::size_t>(lens[r]));
  return out;
}

// A member's output is complete: model.h5 loads as a checkpoint, metrics.csv and config.ini exist.
bool member_complete(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(fs::path(dir) / "metrics.csv", ec) || !fs::exists(fs::path(dir) / "config.ini", ec)) return false;
  try {
    const train::CheckpointData c = train::load_checkpoint((fs::path(dir) / "model.h5").string());
    return !c.params.empty();
  } catch (const std::exception&) {
    return false;
  }
}

// The header and last row of a member's metrics.csv (its final epoch); empty for a member stopped by a
// signal before its first row (metrics.csv is created with it).
std::pair<std::string, std::string> last_metrics(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "metrics.csv").string();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return {};
  std::ifstream in(path);
  HPCT_CHECK(in, path, ": cannot read the metrics file");
  std::string header, line, last;
  std::getline(in, header);
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  return {header, last};
}

}  // namespace

bool is_group_run(const Config& cfg) {
  return cfg.str("ensemble.members") != "1" || cfg.str("groups") != "0" || !cfg.sections().empty();
}

namespace {

// One thing a group trains: an ensemble member or a named model, as a plain run.
struct Job {
  std::string label;  // "member 3", "model mlp": names it in messages
  std::string id;     // first column of the summary: 3, mlp
  std::string dir;
  std::string note;   // what the start line adds: "seed 3000016"
  Config cfg;         // its resolved options: seed, run-dir, model.* set
};

}  // namespace

// [models.NAME] sections: type, weight, group, and options of train by their key (a bare key is
// model.KEY when train has that option, e.g. widths; otherwise a top-level option, e.g. epochs).
std::vector<dist::ModelRequest> model_requests(const Config& cfg, std::vector<Config>& configs) {
  std::vector<dist::ModelRequest> requests;
  for (const NamedSection& sec : cfg.sections()) {
    dist::ModelRequest r;
    r.name = sec.name;
    Config c = cfg;
    for (const auto& [key, value] : sec.entries) {
      const std::string where = cat("[models.", sec.name, "] ", key, " = ", value);
      if (key == "type") {
        r.type = value;
      } else if (key == "weight") {
        char* end = nullptr;
        r.weight = std::strtod(value.c_str(), &end);
        HPCT_CHECK(!value.empty() && end == value.c_str() + value.size(), where, ": weight is not a number");
      } else if (key == "group") {
        char* end = nullptr;
        r.group = static_cast<int>(std::strtol(value.c_str(), &end, 10));
        HPCT_CHECK(!value.empty() && end == value.c_str() + value.size(), where, ": group is not an integer");
      } else {
        const std::string option = cfg.declared("model." + key) ? "model." + key : key;
        HPCT_CHECK(cfg.declared(option) && option.rfind("ensemble.", 0) != 0 && option != "groups" &&
                       option != "run-dir" && option != "config",
                   where, ": '", key, "' is not an option a model section may set (type, weight, group, model.* keys, "
                   "training options; see hpctrain train --help)");
        c = c.with(option, value);
      }
    }
    HPCT_CHECK(!r.type.empty(), "[models.", sec.name, "] has no type (one of mlp, ...)");
    requests.push_back(r);
    configs.push_back(c.with("model.type", r.type));
  }
  return requests;
}

int run_ensemble(const Config& cfg, dist::World& world) {
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  dist::Communicator& wc = world.comm();
  const bool root = world.rank() == 0;
  const bool quiet = cfg.boolean("quiet");
  const std::string run_dir = cfg.str("run-dir");
  const std::uint64_t seed = cfg.unsigned_integer("seed");
  const bool models = !cfg.sections().empty();

  // Bad input is found before any training. The plan and levels are the same on every rank; the
  // run directory is probed by rank 0 alone; all ranks then agree, rank 0 reports, and every rank
  // returns non-zero (no abort: nothing is running yet).
  dist::GroupPlan plan;
  std::vector<Config> model_configs;
  std::string problem;
  try {
    const std::int64_t groups = cfg.integer("groups");
    HPCT_CHECK(groups >= 0 && groups <= (1 << 20), "option --groups: must be >= 0 (0 = derived), got ", groups);
    if (models) {
      HPCT_CHECK(cfg.str("ensemble.members") == "1", "option --ensemble.members ", cfg.str("ensemble.members"),
                 ": ensembles of [models.NAME] sections are not supported; train one model per section");
      plan = dist::plan_models(world.size(), static_cast<int>(groups), model_requests(cfg, model_configs));
    } else {
      plan = dist::plan_ensemble(world.size(), static_cast<int>(groups), cfg.integer("ensemble.members"), seed);
    }
    const std::vector<double> levels = cfg.real_list("uq.levels");
    train::check_levels(levels);
    HPCT_CHECK(!cfg.boolean("ensemble.bootstrap-pairs") ||
                   (cfg.boolean("ensemble.bootstrap") && cfg.integer("ensemble.members") % 2 == 0),
               "option --ensemble.bootstrap-pairs: needs --ensemble.bootstrap and an even --ensemble.members, got ",
               cfg.str("ensemble.members"), " members", cfg.boolean("ensemble.bootstrap") ? "" : " without bootstrap");
    if (root) problem = probe_run_dir(run_dir);
  } catch (const Error& e) {
    problem = e.what();
  }
  if (any_rank(wc, !problem.empty())) {
    if (root) std::cerr << "hpctrain train: error: " << problem << std::endl;
    return 1;
  }
  if (root && !quiet) std::cout << dist::describe(plan) << std::endl;

  const int g = plan.group_of_rank(world.rank());
  std::unique_ptr<dist::Communicator> gc = wc.split(g, plan.rank_in_group(world.rank()));
  const bool group_root = gc->rank() == 0;
  const dist::Group& group = plan.groups[static_cast<std::size_t>(g)];
  // This group's jobs, in training order. A job's config.ini reproduces it alone: a plain single run.
  auto plain = [](const Config& c) {
    return c.with("ensemble.members", "1").with("ensemble.resume", "false").with("groups", "0");
  };
  std::vector<Job> jobs;
  for (const dist::MemberSlot& slot : group.members) {
    const std::string dir = member_dir(run_dir, slot.member);
    Config member = plain(cfg).with("seed", std::to_string(slot.seed)).with("run-dir", dir);
    // Bootstrap pairs: members 2j and 2j+1 take their rows (split, resample) from member 2j's seed.
    if (cfg.boolean("ensemble.bootstrap-pairs"))
      member = member.with("ensemble.bootstrap-seed",
                           std::to_string(dist::member_seed(seed, slot.member - slot.member % 2)));
    jobs.push_back({cat("member ", slot.member), std::to_string(slot.member), dir, cat("seed ", slot.seed), member});
  }
  for (const int i : group.models) {
    const dist::ModelRequest& r = plan.models[static_cast<std::size_t>(i)];
    const std::string dir = (std::filesystem::path(run_dir) / r.name).string();
    jobs.push_back({cat("model ", r.name), r.name, dir, cat("type ", r.type),
                    plain(model_configs[static_cast<std::size_t>(i)]).with("run-dir", dir)});
  }
  const bool resume = cfg.boolean("ensemble.resume");
  std::string mine;  // summary lines of this group's jobs (on the group's rank 0)
  double stopped = 0.0;  // a member of this group was stopped by a signal (checkpoint written)
  // A signal that reached only some groups' ranks stops every group (see stop_relay.hpp).
  const std::atomic<int>& stop_flag = install_stop_signals();
  std::unique_ptr<dist::StopRelay> relay;
  if (world.size() > 1 && plan.group_count() > 1) relay = std::make_unique<dist::StopRelay>(stop_flag, raise_stop_signal);
  for (const Job& job : jobs) {
    // The group's ranks agree before each member: one that has seen a signal starts no new member.
    double signalled = stop_flag.load() != 0 ? 1.0 : 0.0;
    gc->allreduce(Tensor(&signalled, {1}, DType::f64), dist::ReduceOp::sum)->wait_host();
    if (signalled > 0) stopped = 1.0;
    if (stopped) break;  // the group's ranks agreed: the next members wait for the resumed job
    // The group's rank 0 decides, so that the group's ranks agree on skipping.
    std::int32_t skip = resume && group_root && member_complete(job.dir) ? 1 : 0;
    gc->broadcast(Tensor(&skip, {1}, DType::i32), 0)->wait_host();
    if (skip) {
      if (group_root && !quiet)
        std::cout << job.label << ": complete in " << job.dir << ", skipped (--ensemble.resume)" << std::endl;
    } else {
      if (group_root && !quiet)
        std::cout << job.label << " (group " << g << ", " << job.note << "): training into " << job.dir << std::endl;
      try {
        if (train_model(job.cfg, *gc) == kExitStopped) stopped = 1.0;
      } catch (const std::exception& e) {
        throw Error(cat(job.label, ": ", e.what()));  // main ends the job with it
      }
    }
    // Summary line: id, status, header and last row of its metrics.csv.
    if (group_root) {
      const auto [header, row] = last_metrics(job.dir);
      mine += cat(job.id, '\t', skip ? "resumed" : "trained", '\t', header, '\t', row, '\n');
    }
  }

  // Groups finish at different times, so the wait for the summary may be long.
  wc.set_timeout(std::chrono::hours(24 * 7));
  if (relay) relay->finish();
  // A group stopped by a signal: every rank exits with kExitStopped, no summary (a group the signal
  // did not reach has finished its members by now); --resume auto continues each member.
  wc.allreduce(Tensor(&stopped, {1}, DType::f64), dist::ReduceOp::sum)->wait_host();
  if (stopped > 0) {
    if (root) log::warn(cat("ensemble stopped by a signal; resume with --resume auto --run-dir ", run_dir));
    return kExitStopped;
  }
  const std::vector<std::string> texts = allgather_text(wc, mine);
  if (!root) return 0;

  std::map<std::string, std::vector<std::string>> rows;  // id -> status, header, row
  for (const std::string& text : texts) {
    std::stringstream in(text);
    for (std::string line; std::getline(in, line);) {
      std::vector<std::string> f;
      std::stringstream ls(line);
      for (std::string cell; std::getline(ls, cell, '\t');) f.push_back(cell);
      HPCT_CHECK(f.size() == 4, "ensemble summary: malformed line '", line, "'");
      rows[f[0]] = {f[1], f[2], f[3]};
    }
  }
  const std::int64_t count = models ? static_cast<std::int64_t>(plan.models.size()) : plan.members;
  HPCT_CHECK(static_cast<std::int64_t>(rows.size()) == count, "summary: ", rows.size(), " of ", count, " reported");
  // In plan order: members 0..M-1, models as configured.
  std::vector<std::string> ids;
  for (std::int64_t j = 0; j < count; ++j)
    ids.push_back(models ? plan.models[static_cast<std::size_t>(j)].name : std::to_string(j));
  const std::string header = rows.at(ids.front())[1];
  const std::vector<std::string> cols = csv_cells(header);
  const auto val_col = std::find(cols.begin(), cols.end(), "val_loss") - cols.begin();
  std::ostringstream csv, ini;
  csv << (models ? "model,group,type,status," : "member,group,seed,status,") << header << '\n';
  double val_sum = 0, val_min = 1e300, val_max = -1e300;
  std::int64_t with_val = 0, trained = 0;
  for (std::int64_t j = 0; j < count; ++j) {
    const std::vector<std::string>& f = rows.at(ids[static_cast<std::size_t>(j)]);
    if (models)
      csv << ids[static_cast<std::size_t>(j)] << ',' << plan.group_of_model(ids[static_cast<std::size_t>(j)]) << ','
          << plan.models[static_cast<std::size_t>(j)].type;
    else
      csv << j << ',' << plan.group_of_member(j) << ',' << dist::member_seed(seed, j);
    csv << ',' << f[0] << ',' << (f[1] == header ? f[2] : "") << '\n';
    trained += f[0] == "trained";
    const std::vector<std::string> cells = csv_cells(f[2]);
    if (f[1] == header && val_col < static_cast<std::ptrdiff_t>(cells.size()) &&
        !cells[static_cast<std::size_t>(val_col)].empty()) {
      const double v = std::stod(cells[static_cast<std::size_t>(val_col)]);
      val_sum += v, val_min = std::min(val_min, v), val_max = std::max(val_max, v), ++with_val;
    }
  }
  const std::string what = models ? "models" : "members";
  ini << "# hpctrain " << (models ? "models: each in its NAME/" : "ensemble: members in member-XXX/")
      << " (a normal run: config.ini, metrics.csv, model.h5)\n"
      << what << " = " << count << "\ngroups = " << plan.group_count() << "\nranks = " << plan.world_size
      << "\nranks_per_group = " << plan.ranks_per_group() << "\nseed = " << seed << '\n';
  if (!models) ini << "member_seed = seed + 1000003 m\nuq_levels = " << cfg.str("uq.levels") << '\n';
  ini << "\n[" << what << "]\n";
  for (std::int64_t j = 0; j < count; ++j) {
    if (models) {
      const dist::ModelRequest& r = plan.models[static_cast<std::size_t>(j)];
      ini << r.name << " = type " << r.type << ", weight " << r.weight << ", group " << plan.group_of_model(r.name) << '\n';
    } else {
      ini << std::filesystem::path(member_dir(run_dir, j)).filename().string() << " = group " << plan.group_of_member(j)
          << ", seed " << dist::member_seed(seed, j) << '\n';
    }
  }
  const std::filesystem::path base = std::filesystem::path(run_dir) / (models ? "models" : "ensemble");
  write_text_atomic(base.string() + ".csv", csv.str());
  write_text_atomic(base.string() + ".ini", ini.str());

  const double seconds = std::chrono::duration<double>(clock::now() - start).count();
  std::ostringstream line;
  line << std::setprecision(5) << (models ? "models: " : "ensemble: ") << count << " " << what << " (" << trained
       << " trained, " << count - trained << " resumed) in " << plan.group_count() << " group(s) of "
       << plan.ranks_per_group() << " rank(s)";
  if (with_val) line << " | val_loss mean=" << val_sum / static_cast<double>(with_val) << " min=" << val_min << " max=" << val_max;
  line << std::fixed << std::setprecision(1) << " | " << seconds << " s, "
       << (trained ? static_cast<double>(trained) * 3600.0 / seconds : 0.0) << " " << what << "/hour | "
       << base.string() << ".csv";
  std::cout << line.str() << std::endl;
  return 0;
}

}  // namespace hpct::app
