#include "train/progress.hpp"

#include <cmath>
#include <cstdio>

#include "core/log.hpp"

namespace hpct::train {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<long long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, (s % 3600) / 60);
  else if (s >= 60)
    std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%llds", s);
  return buf;
}

Progress::Due Progress::due(std::int64_t step) {
  if (!opt_.enabled) return Due::none;
  const bool by_steps = opt_.log_every > 0 && step % opt_.log_every == 0;
  const bool by_time = opt_.interval_s > 0 && since_line_.seconds() >= opt_.interval_s;
  if (by_steps || by_time) {
    since_line_.reset();
    since_refresh_.reset();
    return Due::log;
  }
  if (opt_.terminal && since_refresh_.seconds() >= 1.0) {
    since_refresh_.reset();
    return Due::refresh;
  }
  return Due::none;
}

std::string Progress::format(const ProgressPoint& p) {
  char buf[320];
  int n = std::snprintf(buf, sizeof buf, "epoch %lld/%lld step %lld/%lld (%lld) | %.0f samples/s",
                        static_cast<long long>(p.epoch), static_cast<long long>(p.epochs),
                        static_cast<long long>(p.step_in_epoch), static_cast<long long>(p.steps_per_epoch),
                        static_cast<long long>(p.step), p.samples_per_s);
  std::string s(buf, static_cast<std::size_t>(n));
  if (p.tokens_per_s > 0) s += " (" + std::to_string(static_cast<long long>(p.tokens_per_s)) + " tokens/s)";
  n = std::snprintf(buf, sizeof buf, " | loss %.5g (this rank, epoch so far) | lr %.3g | ETA epoch %s, run %s", p.loss,
                    p.lr, format_duration(p.epoch_eta_s).c_str(), format_duration(p.run_eta_s).c_str());
  return s + std::string(buf, static_cast<std::size_t>(n));
}

void Progress::show(const ProgressPoint& p, Due d) const {
  if (d == Due::none) return;
  if (opt_.terminal)
    log::status(format(p));
  else
    log::info(format(p));
}

}  // namespace hpct::train
