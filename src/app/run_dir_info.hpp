#pragma once
// hpctrain info RUN_DIR: what a run directory says about its run, read from the files the run writes
// (events.jsonl, metrics.csv, config.ini, checkpoints/, model.h5), running, finished or failed; for an
// ensemble (member-XXX/ directories) a line per member.
#include <ostream>
#include <string>

namespace hpct::app {

void describe_run_dir(const std::string& dir, std::ostream& out);

}  // namespace hpct::app
