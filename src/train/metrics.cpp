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

std::vector<std::string> metric_names(nn::LossKind loss) {
  switch (loss) {
    case nn::LossKind::mse: return {"mse", "mae", "r2"};
    case nn::LossKind::gaussian_nll: return {"mse", "mae", "r2", "mean_std"};
    case nn::LossKind::bce: return {"accuracy", "auc"};
    case nn::LossKind::ce: return {"accuracy"};
  }
  return {};
}

Metrics compute_metrics(const Predictions& p, const data::Dataset& truth) {
  const std::int64_t n = p.n, t = p.width;
  Metrics m;
  if (p.loss == nn::LossKind::mse || p.loss == nn::LossKind::gaussian_nll) {
    double mse = 0, mae = 0, r2 = 0, std_sum = 0;
    for (std::int64_t c = 0; c < t; ++c) {
      double mean_y = 0;
      for (std::int64_t r = 0; r < n; ++r) mean_y += truth.y[r * t + c];
      mean_y /= static_cast<double>(n);
      double ss_res = 0, ss_tot = 0, abs_sum = 0;
      for (std::int64_t r = 0; r < n; ++r) {
        const double e = p.mean[r * t + c] - truth.y[r * t + c];
        ss_res += e * e;
        abs_sum += std::abs(e);
        ss_tot += (truth.y[r * t + c] - mean_y) * (truth.y[r * t + c] - mean_y);
        if (!p.var.empty()) std_sum += std::sqrt(p.var[r * t + c]);
      }
      mse += ss_res / static_cast<double>(n);
      mae += abs_sum / static_cast<double>(n);
      r2 += ss_tot > 0 ? 1.0 - ss_res / ss_tot : 0.0;
    }
    m = {{"mse", mse / t}, {"mae", mae / t}, {"r2", r2 / t}};
    if (!p.var.empty()) m.emplace_back("mean_std", std_sum / static_cast<double>(n * t));
  } else if (p.loss == nn::LossKind::bce) {
    double correct = 0, auc = 0;
    for (std::int64_t c = 0; c < t; ++c) {
      std::vector<float> score(n), label(n);
      for (std::int64_t r = 0; r < n; ++r) {
        score[r] = p.prob[r * t + c];
        label[r] = truth.y[r * t + c];
        correct += (score[r] > 0.5f) == (label[r] > 0.5f);
      }
      auc += roc_auc(score, label);
    }
    m = {{"accuracy", correct / static_cast<double>(n * t)}, {"auc", auc / t}};
  } else {
    double correct = 0;
    for (std::int64_t r = 0; r < n; ++r) correct += p.label[r] == truth.labels[r];
    m = {{"accuracy", correct / static_cast<double>(n)}};
  }
  return m;
}

}  // namespace hpct::train
