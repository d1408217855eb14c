#include "core/stop_signal.hpp"

#include <csignal>
#include <cstring>

namespace hpct {
namespace {

std::atomic<int> g_stop{0};
static_assert(std::atomic<int>::is_always_lock_free, "a signal handler may only touch lock-free atomics");

extern "C" void on_stop_signal(int sig) {
  int none = 0;
  g_stop.compare_exchange_strong(none, sig);  // the first signal is the one reported
}

}  // namespace

const std::atomic<int>& install_stop_signals() {
  static const bool installed = [] {
    for (int sig : {SIGTERM, SIGUSR1, SIGINT}) {
      struct sigaction sa;
      std::memset(&sa, 0, sizeof sa);
      sa.sa_handler = on_stop_signal;
      sigemptyset(&sa.sa_mask);
      sa.sa_flags = SA_RESTART | (sig == SIGINT ? SA_RESETHAND : 0);
      sigaction(sig, &sa, nullptr);
    }
    return true;
  }();
  (void)installed;
  return g_stop;
}

void raise_stop_signal(int sig) { on_stop_signal(sig); }

void restore_default_stop_signals() {
  for (int sig : {SIGTERM, SIGUSR1, SIGINT}) std::signal(sig, SIG_DFL);
}

const char* signal_name(int sig) {
  switch (sig) {
    case SIGTERM: return "SIGTERM";
    case SIGUSR1: return "SIGUSR1";
    case SIGINT: return "SIGINT";
    default: return "a signal";
  }
}

}  // namespace hpct
