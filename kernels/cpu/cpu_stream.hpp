#pragma once
// The synchronous CPU backend's stream and event: every op has run by the time it was enqueued, so
// waiting, recording and querying are trivial, and host work runs at once. The host waits still count (through the callback the
// backend hands in), so Backend::host_syncs() means the same on every backend.
#include <functional>
#include <utility>

#include "core/stream.hpp"

namespace hpct::kernels::cpu {

class CpuStream final : public Stream {
 public:
  explicit CpuStream(std::function<void()> on_host_wait) : on_host_wait_(std::move(on_host_wait)) {}
  void wait(const Event& /*e*/) override {}
  void synchronize() override { on_host_wait_(); }
  // Everything enqueued before has run: fn runs now, on the calling thread.
  void launch_host(std::function<void()> fn) override { fn(); }

 private:
  std::function<void()> on_host_wait_;
};

class CpuEvent final : public Event {
 public:
  explicit CpuEvent(std::function<void()> on_host_wait) : on_host_wait_(std::move(on_host_wait)) {}
  void record(Stream& /*s*/) override {}
  bool query() const override { return true; }
  void synchronize() override { on_host_wait_(); }

 private:
  std::function<void()> on_host_wait_;
};

}  // namespace hpct::kernels::cpu
