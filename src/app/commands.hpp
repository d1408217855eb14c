#pragma once
// One function per subcommand; each parses its own options from args (which exclude the program and
// subcommand names) and returns the process exit status.
#include <string>
#include <vector>

namespace hpct::app {

using Args = std::vector<std::string>;

int run_train(const Args& args);
int run_predict(const Args& args);
int run_gen_data(const Args& args);
int run_convert(const Args& args);
int run_info(const Args& args);
// info --system (cmd_info_system.cpp): versions, CPU, CUDA, GPUs, the rank -> node -> GPU map.
int run_info_system();
int run_plot(const Args& args);
int run_selfcheck(const Args& args);

}  // namespace hpct::app
