#include "train/bottleneck.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

#include "core/error.hpp"

namespace hpct::train {

std::vector<std::string> limiting_factors(const PhaseTimes& t, int ranks, const BottleneckThresholds& th) {
  const double total = t.total();
  if (!(total > 0)) return {};
  auto pct = [&](double v) { return static_cast<long long>(std::lround(100.0 * v / total)); };
  std::vector<std::pair<double, std::string>> found;
  if (t.comm_wait / total >= th.comm)
    found.emplace_back(t.comm_wait, cat("communication exposed ", pct(t.comm_wait), "% of the step",
                                        ranks > 1 ? "" : " (one rank: the last bucket's own reduction)",
                                        ": raise --ddp.bucket-mb or --batch-size (or --accum-steps)"));
  if (t.data / total >= th.data)
    found.emplace_back(t.data, cat("data loading ", pct(t.data),
                                   "% of the step: raise --data.workers (or load the data in memory: no --data.stream)"));
  if (t.optimizer / total >= th.optimizer)
    found.emplace_back(t.optimizer, cat("optimizer step ", pct(t.optimizer),
                                        "% of the step: a larger --batch-size spreads it over more samples"));
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(std::move(f.second));
  if (out.empty())
    out.push_back(cat("compute-bound: forward and backward ", pct(t.forward + t.backward),
                      "% of the step (more threads or a faster device help; the phases above are small)"));
  return out;
}

}  // namespace hpct::train
