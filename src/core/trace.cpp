#include "core/trace.hpp"

#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>

#include "core/json.hpp"

namespace hpct::trace {
namespace detail {
std::atomic<bool> recording{false};
std::atomic<bool> configured{false};
}  // namespace detail

namespace {
struct Recorder {
  std::mutex mu;
  int pid = 0;
  std::int64_t first = 0, end = -1;
  std::map<int, std::string> names;  // track id -> thread name
  std::map<std::string, int> tracks; // named (device) track -> track id
  std::string events;
  std::int64_t count = 0;
  int next_tid = 1;
};
Recorder& rec() {
  static Recorder r;
  return r;
}
int this_tid() {
  thread_local int tid = [] {
    std::lock_guard lock(rec().mu);
    return rec().next_tid++;
  }();
  return tid;
}
}  // namespace

void detail::set_step(std::int64_t step) {
  const Recorder& r = rec();
  recording.store(step >= r.first && (r.end < 0 || step < r.end), std::memory_order_relaxed);
}

void configure(int pid, std::int64_t first_step, std::int64_t end_step) {
  {
    std::lock_guard lock(rec().mu);
    rec().pid = pid;
    rec().first = first_step;
    rec().end = end_step;
  }
  detail::configured.store(true);
  detail::set_step(0);
}

void stop() {
  detail::configured.store(false);
  detail::recording.store(false);
}

void name_thread(const std::string& name) {
  const int tid = this_tid();
  std::lock_guard lock(rec().mu);
  rec().names[tid] = name;
}

double now_us() {
  return std::chrono::duration<double, std::micro>(std::chrono::system_clock::now().time_since_epoch()).count();
}

namespace {

// Appends one complete event on track tid (rec().mu held).
void append(int tid, const std::string& name, const char* category, double start_us, double end_us,
            const std::string& args_json) {
  char buf[160];
  std::snprintf(buf, sizeof buf, ",\"ph\":\"X\",\"ts\":%.3f,\"dur\":%.3f,\"tid\":%d,\"pid\":", start_us,
                end_us - start_us, tid);
  std::string e = "{\"name\":" + json_quote(name) + ",\"cat\":" + json_quote(category) + buf;
  e += std::to_string(rec().pid);
  if (!args_json.empty()) e += ",\"args\":{" + args_json + "}";
  e += "}";
  if (!rec().events.empty()) rec().events += ",\n";
  rec().events += e;
  ++rec().count;
}

// Device sources (their own lock: a flush records events under rec().mu).
struct Sources {
  std::mutex mu;
  std::map<int, std::function<void()>> flush;
  int next = 1;
};
Sources& sources() {
  static Sources s;
  return s;
}

}  // namespace

void complete(const std::string& name, const char* category, double start_us, double end_us,
              const std::string& args_json) {
  const int tid = this_tid();
  std::lock_guard lock(rec().mu);
  // A thread that never named itself (e.g. a cpu-async stream worker running a host function such as an
  // MPI collective in stream order) still gets a track name.
  rec().names.try_emplace(tid, "thread " + std::to_string(tid));
  append(tid, name, category, start_us, end_us, args_json);
}

void complete_on_track(const std::string& track, const std::string& name, const char* category, double start_us,
                       double end_us, const std::string& args_json) {
  std::lock_guard lock(rec().mu);
  Recorder& r = rec();
  auto it = r.tracks.find(track);
  if (it == r.tracks.end()) {
    it = r.tracks.emplace(track, r.next_tid++).first;
    r.names[it->second] = track;
  }
  append(it->second, name, category, start_us, end_us, args_json);
}

int add_device_source(std::function<void()> flush) {
  std::lock_guard lock(sources().mu);
  const int id = sources().next++;
  sources().flush.emplace(id, std::move(flush));
  return id;
}

void remove_device_source(int id) {
  std::lock_guard lock(sources().mu);
  sources().flush.erase(id);
}

void flush_device_sources() {
  std::lock_guard lock(sources().mu);
  for (auto& [id, flush] : sources().flush) flush();
}

std::string events_json() {
  flush_device_sources();
  std::lock_guard lock(rec().mu);
  const Recorder& r = rec();
  std::string out = JsonObject()
                        .add("name", "process_name")
                        .add("ph", "M")
                        .add("pid", r.pid)
                        .add("args", JsonObject().add("name", "rank " + std::to_string(r.pid)))
                        .str();
  for (const auto& [tid, name] : r.names)
    out += ",\n" + JsonObject()
                       .add("name", "thread_name")
                       .add("ph", "M")
                       .add("pid", r.pid)
                       .add("tid", tid)
                       .add("args", JsonObject().add("name", name))
                       .str();
  if (!r.events.empty()) out += ",\n" + r.events;
  return out;
}

std::string merge(const std::vector<std::string>& parts) {
  std::string out = "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n";
  bool first = true;
  for (const std::string& p : parts) {
    if (p.empty()) continue;
    out += (first ? "" : ",\n") + p;
    first = false;
  }
  return out + "\n]}\n";
}

std::int64_t event_count() {
  std::lock_guard lock(rec().mu);
  return rec().count;
}

}  // namespace hpct::trace
