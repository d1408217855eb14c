// hpctrain: train neural networks on HDF5 data. `hpctrain COMMAND --help` describes each command.
#include <chrono>
#include <exception>
#include <thread>
#include <iostream>
#include <string>

#include "app/commands.hpp"
#include "app/version.hpp"
#include "app/process_env.hpp"
#include "core/error.hpp"
#include "core/stop_signal.hpp"
#include "core/log.hpp"
#include "parallel/world.hpp"

namespace {

constexpr const char* kUsage = R"(usage: hpctrain COMMAND [options]

commands:
  train      train a model on an HDF5 data set; writes config, metrics and a checkpoint
  predict    load a checkpoint and write predictions for a data set to HDF5
  gen-data   write a synthetic data set with known ground truth
  convert    turn a CSV file into the HDF5 data layout
  info       describe HDF5 data sets, checkpoints and run directories (status, progress, metrics);
             --system: this machine, CUDA and its GPUs
  plot       draw PNGs of runs (loss, metrics, throughput, phase times; --predictions: calibration); several runs compare
  selfcheck  check this machine: backends against the CPU reference, NCCL bandwidth (pass/fail table)

`hpctrain --version` prints the version, git commit, backends and library versions.

`hpctrain COMMAND --help` lists a command's options.
)";

// Prints the error; in a job of several ranks, names this rank and ends every rank (peers may be
// waiting in a collective for this one). A bad input usually fails every rank alike: the other ranks
// give rank 0 a second to report it and end the job, so the error is printed once; an error of one
// rank alone is still reported by that rank, a second later.
void fail_job(const std::string& command, const char* kind, const char* what) {
  using hpct::dist::World;
  if (World::active() && World::get().size() > 1) {
    hpct::restore_default_stop_signals();
    if (World::get().rank() != 0) std::this_thread::sleep_for(std::chrono::seconds(1));
    World::abort(hpct::cat("hpctrain ", command, ": rank ", World::get().rank(), ": ", kind, what));
  }
  hpct::log::error_line(hpct::cat("hpctrain ", command, ": ", kind, what));
}

}  // namespace

int main(int argc, char** argv) {
  using namespace hpct::app;
  prepare_process_environment(argv);
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::cout << kUsage;
    return argc < 2 ? 2 : 0;
  }
  if (std::string(argv[1]) == "--version") {
    std::cout << version_text();
    return 0;
  }
  const std::string command = argv[1];
  const Args args(argv + 2, argv + argc);
  try {
    if (command == "train") return run_train(args);
    if (command == "predict") return run_predict(args);
    if (command == "gen-data") return run_gen_data(args);
    if (command == "convert") return run_convert(args);
    if (command == "info") return run_info(args);
    if (command == "plot") return run_plot(args);
    if (command == "selfcheck") return run_selfcheck(args);
    std::cerr << "hpctrain: unknown command '" << command << "' (hpctrain --help lists the commands)\n";
    return 2;
  } catch (const hpct::Error& e) {
    fail_job(command, "error: ", e.what());
  } catch (const std::exception& e) {
    fail_job(command, "internal error: ", e.what());
  }
  return 1;
}
