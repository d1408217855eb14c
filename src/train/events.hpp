#pragma once
// RUN/events.jsonl: one JSON object per line and per event (start, step, epoch, checkpoint, warning,
// end, failed), each with "event" and "time" (Unix seconds), flushed as written so that `tail -f` and
// `hpctrain info RUN` follow a running job. Written by the process that prints (rank 0 of the model).
#include <fstream>
#include <mutex>
#include <string>

#include "core/json.hpp"

namespace hpct::train {

class EventLog {
 public:
  // Appends to `path` (a resumed run continues its file); throws naming the file it cannot open.
  explicit EventLog(const std::string& path);
  // Writes {"event": type, "time": now, ...fields}; thread-safe.
  void write(const std::string& type, const JsonObject& fields = JsonObject());
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::mutex mutex_;
  std::ofstream out_;
};

}  // namespace hpct::train
