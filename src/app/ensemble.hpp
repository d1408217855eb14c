#pragma once
// Ensembles (README: Ensembles and uncertainty): `train` with --ensemble.members / --groups splits
// the world into groups that train members one after another, each member a normal run in
// RUN/member-XXX; `predict` on such a RUN combines the members' predictions with intervals.
#include <string>
#include <vector>

#include "app/config.hpp"
#include "parallel/communicator.hpp"
#include "parallel/group_plan.hpp"
#include "parallel/world.hpp"
#include "train/trainer.hpp"

namespace hpct::app {

// The exit status of a run stopped by SIGTERM, SIGUSR1 or SIGINT after writing its checkpoint:
// resumable with --resume (README: Signals and exit statuses). EX_TEMPFAIL of sysexits.h.
constexpr int kExitStopped = 75;

// The options of `train` (cmd_train.cpp).
Options train_options();

// The single-model body of `train` (cmd_train.cpp) on `comm`: its rank 0 writes cfg's run-dir.
// Every rank of comm receives the training summary in *summary when given. Returns 0, or kExitStopped.
int train_model(const Config& cfg, dist::Communicator& comm, train::TrainSummary* summary = nullptr);

// `train` runs groups: --ensemble.members other than 1, --groups set, or [models.NAME] sections.
bool is_group_run(const Config& cfg);
// The [models.NAME] sections of cfg as plan requests; configs receives each model's options.
// Throws naming the section and key of a bad entry.
std::vector<dist::ModelRequest> model_requests(const Config& cfg, std::vector<Config>& configs);
// `train` of an ensemble, or of several named models at once (ensemble_train.cpp).
int run_ensemble(const Config& cfg, dist::World& world);

// The directory of member m of an ensemble run: RUN/member-007.
std::string member_dir(const std::string& run_dir, std::int64_t member);
// `path` is an ensemble run directory: it holds ensemble.ini or member-000/model.h5.
bool is_ensemble_run(const std::string& path);

// `predict` on an ensemble run (ensemble_predict.cpp); cfg holds predict's options.
int run_ensemble_predict(const Config& cfg);

}  // namespace hpct::app
