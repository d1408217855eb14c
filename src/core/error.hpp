#pragma once
// hpctrain::Error: thrown where a fault is found, carrying the context a user needs (file, dataset,
// option, value). main() catches it, prints it and exits non-zero.
#include <sstream>
#include <stdexcept>
#include <string>

namespace hpct {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

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
