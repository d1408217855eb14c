#pragma once
// Streams and events: the execution model every backend follows (CUDA's). Work is enqueued on a
// stream and runs in the order it was enqueued; the host does not wait for it. An Event marks a point
// in a stream: another stream can wait for it without the host waiting, and the host can wait for it
// explicitly. A backend creates both (kernels::Backend::create_stream / create_event).
//
// The host reads device memory only after an explicit wait: Stream::synchronize, Event::synchronize
// (or Backend::read_to_host, which is a copy and a wait). Each such wait on the backend's owning
// thread is counted (Backend::host_syncs), so tests and the timing line show that a training step
// does not wait where it should not.
#include <cstdint>
#include <functional>

namespace hpct {

class Event;

class Stream {
 public:
  virtual ~Stream() = default;
  // Work enqueued on this stream after this call starts once `e`'s recorded work has completed.
  virtual void wait(const Event& e) = 0;
  // The host waits until everything enqueued so far has run; rethrows the first error an operation
  // on this stream raised.
  virtual void synchronize() = 0;
  // Runs fn on a host thread in stream order: after the work enqueued before it, before the work
  // enqueued after it, which waits for fn to return (cudaLaunchHostFunc). fn may block, e.g. until a
  // host-side collective on this stream's data completed; an exception it throws is this stream's error.
  virtual void launch_host(std::function<void()> fn) = 0;
};

class Event {
 public:
  virtual ~Event() = default;
  // Marks the work enqueued on `s` so far; the event completes when that work has.
  virtual void record(Stream& s) = 0;
  // True once the recorded work has completed (never blocks); true for an event never recorded.
  virtual bool query() const = 0;
  // The host waits until the recorded work has completed; rethrows an error it raised.
  virtual void synchronize() = 0;
};

}  // namespace hpct
