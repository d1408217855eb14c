#pragma once
// A test gate on a stream: it blocks the stream (a host function in its queue) until open(), so the
// test can prove that ops run after their call returned. The destructor opens it, so a failed check
// never leaves a worker blocked; declare it after what it must outlive (a backend, whose memory frees
// wait for the stream). A host function that an op makes wait for the host while the gate is closed
// would wait for ever: the gate gives up after `timeout`.
#include <chrono>
#include <future>

#include "core/stream.hpp"

namespace hpct::test {

class Gate {
 public:
  explicit Gate(Stream& s, std::chrono::seconds timeout = std::chrono::seconds(20)) {
    std::shared_future<void> f = p_.get_future().share();
    s.launch_host([f, timeout] { f.wait_for(timeout); });
  }
  ~Gate() { open(); }
  Gate(const Gate&) = delete;
  Gate& operator=(const Gate&) = delete;
  void open() {
    if (!opened_) p_.set_value();
    opened_ = true;
  }

 private:
  std::promise<void> p_;
  bool opened_ = false;
};

}  // namespace hpct::test
