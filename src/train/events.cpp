#include "train/events.hpp"

#include <chrono>

#include "core/error.hpp"

namespace hpct::train {

EventLog::EventLog(const std::string& path) : path_(path), out_(path, std::ios::app) {
  HPCT_CHECK(out_, path, ": cannot open the event log for writing");
}

void EventLog::write(const std::string& type, const JsonObject& fields) {
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  std::string line = JsonObject().add("event", type).add("time", now).str();
  const std::string rest = fields.str();
  if (rest.size() > 2) line = line.substr(0, line.size() - 1) + "," + rest.substr(1);
  std::lock_guard lock(mutex_);
  out_ << line << '\n' << std::flush;
  HPCT_CHECK(out_, path_, ": writing the event log failed");
}

}  // namespace hpct::train
