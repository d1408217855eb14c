#pragma once
// hpctrain::Error: thrown where a fault is found, carrying the context a user needs (file, dataset,
// option, value). main() catches it, prints it and exits non-zero.
//
// Each Error also becomes the process's latest error message: code that must end the job while an
// exception unwinds, before main() can catch it (a communicator whose thread is stuck in a collective),
// says why with it, including the context added by whoever caught and rethrew it.
#include <sstream>
#include <stdexcept>
#include <string>

namespace hpct {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what);
  explicit Error(const char* what) : Error(std::string(what)) {}
};

// The message of the most recently constructed Error in this process ("" when none was).
std::string latest_error();

// Concatenates its arguments with operator<< into one message.
template <class... Args>
std::string cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

template <class... Args>
[[noreturn]] void fail(const Args&... args) {
  throw Error(cat(args...));
}

}  // namespace hpct

// Checks a condition that depends on input or configuration; throws hpct::Error with the message.
#define HPCT_CHECK(cond, ...)                 \
  do {                                        \
    if (!(cond)) ::hpct::fail(__VA_ARGS__);   \
  } while (0)
