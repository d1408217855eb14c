#include "train/predictions.hpp"

#include <algorithm>
#include <cmath>

namespace hpct::train {

Predictions interpret_outputs(nn::LossKind loss, const std::vector<float>& raw, std::int64_t samples,
                              std::int64_t out_width, const Standardization& s, std::int64_t positions) {
  Predictions p;
  p.loss = loss;
  p.n = samples;
  p.positions = positions;
  const std::int64_t n = samples * positions;  // output rows
  p.width = loss == nn::LossKind::gaussian_nll ? out_width / 2 : out_width;
  const std::int64_t t = p.width;
  auto y_mean = [&](std::int64_t c) { return s.y_mean.empty() ? 0.0 : static_cast<double>(s.y_mean[c]); };
  auto y_std = [&](std::int64_t c) { return s.y_std.empty() ? 1.0 : static_cast<double>(s.y_std[c]); };
  switch (loss) {
    case nn::LossKind::mse:
    case nn::LossKind::gaussian_nll:
      p.mean.resize(n * t);
      if (loss == nn::LossKind::gaussian_nll) p.var.resize(n * t);
      for (std::int64_t r = 0; r < n; ++r)
        for (std::int64_t c = 0; c < t; ++c) {
          p.mean[r * t + c] = static_cast<float>(raw[r * out_width + c] * y_std(c) + y_mean(c));
          if (!p.var.empty())
            p.var[r * t + c] = static_cast<float>(std::exp(raw[r * out_width + t + c]) * y_std(c) * y_std(c));
        }
      break;
    case nn::LossKind::bce:
      p.prob.resize(n * t);
      for (std::int64_t i = 0; i < n * t; ++i) p.prob[i] = static_cast<float>(1.0 / (1.0 + std::exp(-raw[i])));
      break;
    case nn::LossKind::ce:
      p.prob.resize(n * t);
      p.label.resize(static_cast<std::size_t>(n));
      for (std::int64_t r = 0; r < n; ++r) {
        const float* z = &raw[r * t];
        const float zmax = *std::max_element(z, z + t);
        double total = 0.0;
        for (std::int64_t c = 0; c < t; ++c) total += std::exp(static_cast<double>(z[c] - zmax));
        for (std::int64_t c = 0; c < t; ++c)
          p.prob[r * t + c] = static_cast<float>(std::exp(static_cast<double>(z[c] - zmax)) / total);
        p.label[r] = static_cast<std::int32_t>(std::max_element(z, z + t) - z);
      }
      break;
  }
  return p;
}

}  // namespace hpct::train
