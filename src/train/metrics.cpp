#include "train/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace hpct::train {

double roc_auc(const std::vector<float>& score, const std::vector<float>& label) {
  const std::size_t n = score.size();
  for (float s : score)
    if (std::isnan(s)) return std::numeric_limits<double>::quiet_NaN();  // sorting NaNs is undefined
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return score[a] < score[b]; });
  double rank_sum_pos = 0.0, positives = 0.0;
  for (std::size_t i = 0; i < n;) {
    std::size_t j = i;
    while (j < n && score[order[j]] == score[order[i]]) ++j;
    const double avg_rank = 0.5 * static_cast<double>(i + 1 + j);  // ranks i+1 .. j
    for (std::size_t k = i; k < j; ++k)
      if (label[order[k]] > 0.5f) {
        rank_sum_pos += avg_rank;
        positives += 1.0;
      }
    i = j;
  }
  const double negatives = static_cast<double>(n) - positives;
  if (positives == 0 || negatives == 0) return std::numeric_limits<double>::quiet_NaN();
  return (rank_sum_pos - positives * (positives + 1) / 2) / (positives * negatives);
}

std::vector<std::string> metric_names(nn::LossKind loss, bool language_model) {
  switch (loss) {
    case nn::LossKind::mse: return {"mse", "mae", "r2"};
    case nn::LossKind::gaussian_nll: return {"mse", "mae", "r2", "mean_std"};
    case nn::LossKind::bce: return {"accuracy", "auc"};
    case nn::LossKind::ce:
      if (language_model) return {"accuracy", "perplexity", "bits_per_byte"};
      return {"accuracy"};
  }
  return {};
}

namespace {

// The prediction rows that count: every row for per-sample outputs; per token, the positions with a
// label (classification) or inside the sequence (float targets).
std::vector<std::int64_t> counted_rows(const Predictions& p, const data::Dataset& truth) {
  std::vector<std::int64_t> rows;
  const std::int64_t len = p.positions;
  for (std::int64_t r = 0; r < p.n; ++r)
    for (std::int64_t l = 0; l < len; ++l) {
      const std::int64_t i = r * len + l;
      // Per-row labels are -1 only for ssvae (unlabelled rows; setup refuses them elsewhere).
      const bool counted =
          p.loss == nn::LossKind::ce ? truth.labels[i] != data::kIgnoreLabel : l < truth.length(r);
      if (counted) rows.push_back(i);
    }
  return rows;
}

}  // namespace

Metrics compute_metrics(const Predictions& p, const data::Dataset& truth, bool language_model) {
  const std::int64_t t = p.width;
  const std::vector<std::int64_t> rows = counted_rows(p, truth);
  const auto n = static_cast<double>(rows.size());
  Metrics m;
  if (p.loss == nn::LossKind::mse || p.loss == nn::LossKind::gaussian_nll) {
    double mse = 0, mae = 0, r2 = 0, std_sum = 0;
    for (std::int64_t c = 0; c < t; ++c) {
      double mean_y = 0;
      for (std::int64_t r : rows) mean_y += truth.y[r * t + c];
      mean_y /= n;
      double ss_res = 0, ss_tot = 0, abs_sum = 0;
      for (std::int64_t r : rows) {
        const double e = p.mean[r * t + c] - truth.y[r * t + c];
        ss_res += e * e;
        abs_sum += std::abs(e);
        ss_tot += (truth.y[r * t + c] - mean_y) * (truth.y[r * t + c] - mean_y);
        if (!p.var.empty()) std_sum += std::sqrt(p.var[r * t + c]);
      }
      mse += ss_res / n;
      mae += abs_sum / n;
      r2 += ss_tot > 0 ? 1.0 - ss_res / ss_tot : 0.0;
    }
    m = {{"mse", mse / t}, {"mae", mae / t}, {"r2", r2 / t}};
    if (!p.var.empty()) m.emplace_back("mean_std", std_sum / (n * static_cast<double>(t)));
  } else if (p.loss == nn::LossKind::bce) {
    double correct = 0, auc = 0;
    for (std::int64_t c = 0; c < t; ++c) {
      std::vector<float> score, label;
      for (std::int64_t r : rows) {
        score.push_back(p.prob[r * t + c]);
        label.push_back(truth.y[r * t + c]);
        correct += (score.back() > 0.5f) == (label.back() > 0.5f);
      }
      auc += roc_auc(score, label);
    }
    m = {{"accuracy", correct / (n * static_cast<double>(t))}, {"auc", auc / t}};
  } else {
    double correct = 0, nll = 0;
    for (std::int64_t r : rows) {
      const std::int32_t label = truth.labels[r];
      correct += p.label[r] == label;
      // Probabilities are float: one that underflowed to 0 counts as the smallest normal float.
      nll -= std::log(std::max(static_cast<double>(p.prob[r * t + label]), 1.1754943508222875e-38));
    }
    m = {{"accuracy", correct / n}};
    if (language_model) {
      m.emplace_back("perplexity", std::exp(nll / n));
      m.emplace_back("bits_per_byte", nll / n / std::log(2.0));
    }
  }
  return m;
}

}  // namespace hpct::train
