#pragma once
// A timeline of this process in Chrome's trace-event format (Perfetto, chrome://tracing): complete
// events ("ph":"X") on one track per thread (compute, communication, loader workers), one process per
// rank. The recorder is process-wide, like the log settings: threads that know nothing of each other
// (the communicator's, the loader's) record into it. Off, every call site costs one relaxed atomic
// load and a branch; on, a clock read and a short locked append per event.
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace hpct::trace {

namespace detail {
extern std::atomic<bool> recording;
extern std::atomic<bool> configured;
void set_step(std::int64_t step);
}  // namespace detail

inline bool enabled() { return detail::recording.load(std::memory_order_relaxed); }

// Records optimizer steps [first_step, end_step) of this process as `pid` (end_step < 0: to the end).
void configure(int pid, std::int64_t first_step, std::int64_t end_step);
// The trainer's step counter: recording follows the configured range.
inline void at_step(std::int64_t step) {
  if (detail::configured.load(std::memory_order_relaxed)) detail::set_step(step);
}
// Stops recording (the events stay until events_json()).
void stop();

// This thread's track name ("compute", "communication", "loader 0"); kept whether or not recording.
void name_thread(const std::string& name);
double now_us();  // microseconds of the system clock (comparable across the ranks of a node)
// One complete event on this thread's track; args_json is the inside of an object ("\"bytes\":64").
void complete(const std::string& name, const char* category, double start_us, double end_us,
              const std::string& args_json = "");

// A complete event from construction to destruction, when recording at construction; bytes >= 0
// adds {"bytes": bytes}.
class Span {
 public:
  Span(const char* name, const char* category, std::int64_t bytes = -1)
      : on_(enabled()), name_(name), category_(category), bytes_(bytes), start_(on_ ? now_us() : 0) {}
  ~Span() {
    if (on_) complete(name_, category_, start_, now_us(), bytes_ >= 0 ? "\"bytes\":" + std::to_string(bytes_) : "");
  }
  Span(const Span&) = delete;
  Span& operator=(const Span&) = delete;

 private:
  bool on_;
  const char* name_;
  const char* category_;
  std::int64_t bytes_;
  double start_;
};

// Device tracks: spans a device timed (CUDA events around the phases on each stream, the NCCL
// collectives on theirs) live on the device until a source converts them to this clock. A source
// registers a flush function, called by flush_device_sources() (events_json() calls it first), that
// emits its finished spans with complete_on_track; it unregisters (after a last flush) when it goes.
// Such spans sit on a named track of their own ("cuda:0 default stream"), not on a thread's.
void complete_on_track(const std::string& track, const std::string& name, const char* category, double start_us,
                       double end_us, const std::string& args_json = "");
int add_device_source(std::function<void()> flush);
void remove_device_source(int id);
void flush_device_sources();

// This process's events and track names as JSON objects separated by ",\n" (no brackets).
std::string events_json();
// The trace file of several processes' events_json() parts: {"traceEvents":[...]}.
std::string merge(const std::vector<std::string>& parts);
// Events recorded so far (tests, the overhead measurement).
std::int64_t event_count();

}  // namespace hpct::trace
