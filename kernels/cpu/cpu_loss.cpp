// CpuBackend: losses. Each returns the SUM of the per-element (per-row) losses, computed in double
// over fixed row chunks added in chunk order (the same bits for any thread count), and writes
// dpred = grad_scale * d(sum)/d(pred) when dpred is not empty.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/common/math.hpp"
#include "kernels/cpu/cpu_backend.hpp"
#include "kernels/cpu/cpu_common.hpp"
#include "kernels/cpu/cpu_vmath.hpp"

namespace hpct::kernels {
namespace {

// pred and target of one float dtype with the same matrix view [N, T] (pred_cols_per_target = 1), or
// pred [N, 2T] for the Gaussian NLL (2); dpred, when given, like pred.
void check_loss_args(const char* k, const Tensor& pred, const Tensor& target, const Tensor& dpred,
                     std::int64_t pred_cols_per_target) {
  cpu::check_float(k, "pred", pred);
  cpu::check_float(k, "target", target);
  cpu::check_same_dtype(k, "pred", pred, "target", target);
  HPCT_CHECK(pred.rows() == target.rows() && pred.cols() == pred_cols_per_target * target.cols(), k,
             ": pred is ", pred.shape.str(), " but target is ", target.shape.str(),
             pred_cols_per_target == 1 ? " (expected the same [rows, cols])"
                                       : " (expected pred [N, 2T] = (mean, log-variance) for target [N, T])");
  if (!dpred.empty()) cpu::check_like(k, "pred", pred, "dpred", dpred);
}

// Runs loss_row(r, pred_row, target_row, dpred_row or nullptr) -> double over all rows, in parallel
// over fixed row chunks, and returns the sum.
template <class T, class F>
double sum_rows(int threads, std::int64_t rows, std::int64_t pred_cols, std::int64_t target_cols, const T* pred,
                const T* target, T* dpred, F&& loss_row) {
  return cpu::chunked_sum(threads, rows, cpu::rows_per_block(pred_cols, cpu::kGrainMath),
                          [&](std::int64_t r0, std::int64_t r1) {
    double s = 0.0;
    for (std::int64_t r = r0; r < r1; ++r)
      s += loss_row(pred + r * pred_cols, target + r * target_cols, dpred ? dpred + r * pred_cols : nullptr);
    return s;
  });
}

}  // namespace

// l = (p - t)^2; dl/dp = 2 (p - t).
double CpuBackend::mse_loss(const Tensor& pred, const Tensor& target, const Tensor& dpred, double grad_scale) {
  constexpr const char* k = "mse_loss";
  check_loss_args(k, pred, target, dpred, 1);
  return cpu::dispatch_float(k, pred.dtype, [&](auto zero) {
    using T = decltype(zero);
    const std::int64_t cols = pred.cols();
    return sum_rows<T>(threads_, pred.rows(), cols, cols, pred.as<T>(), target.as<T>(),
                       dpred.empty() ? nullptr : dpred.as<T>(), [=](const T* p, const T* t, T* d) {
      // No simd reduction: a vectorised sum would be ordered differently with and without the
      // gradient store, and the sum must not depend on whether dpred is asked for.
      double s = 0.0;
      for (std::int64_t c = 0; c < cols; ++c) {
        const double e = static_cast<double>(p[c]) - static_cast<double>(t[c]);
        s += e * e;
        if (d) d[c] = static_cast<T>(grad_scale * 2.0 * e);
      }
      return s;
    });
  });
}

// pred row = (m [T], s [T]), s the log-variance:
//   l = 0.5 (s + (t - m)^2 exp(-s));  dl/dm = (m - t) exp(-s);  dl/ds = 0.5 (1 - (t - m)^2 exp(-s)).
double CpuBackend::gaussian_nll_loss(const Tensor& pred, const Tensor& target, const Tensor& dpred,
                                     double grad_scale) {
  constexpr const char* k = "gaussian_nll_loss";
  check_loss_args(k, pred, target, dpred, 2);
  return cpu::dispatch_float(k, pred.dtype, [&](auto zero) {
    using T = decltype(zero);
    const std::int64_t tc = target.cols();
    return sum_rows<T>(threads_, pred.rows(), 2 * tc, tc, pred.as<T>(), target.as<T>(),
                       dpred.empty() ? nullptr : dpred.as<T>(), [=](const T* p, const T* t, T* d) {
      double s = 0.0;
      for (std::int64_t c = 0; c < tc; ++c) {
        const double mu = static_cast<double>(p[c]), logvar = static_cast<double>(p[tc + c]);
        const double e = static_cast<double>(t[c]) - mu;
        const double w = std::exp(-logvar);
        s += 0.5 * (logvar + e * e * w);
        if (d) {
          d[c] = static_cast<T>(grad_scale * (-e * w));
          d[tc + c] = static_cast<T>(grad_scale * 0.5 * (1.0 - e * e * w));
        }
      }
      return s;
    });
  });
}

// l = max(z, 0) - z t + log(1 + exp(-|z|)) (= softplus(z) - z t, stable); dl/dz = sigmoid(z) - t.
double CpuBackend::bce_logits_loss(const Tensor& pred, const Tensor& target, const Tensor& dpred,
                                   double grad_scale) {
  constexpr const char* k = "bce_logits_loss";
  check_loss_args(k, pred, target, dpred, 1);
  return cpu::dispatch_float(k, pred.dtype, [&](auto zero) {
    using T = decltype(zero);
    const std::int64_t cols = pred.cols();
    return sum_rows<T>(threads_, pred.rows(), cols, cols, pred.as<T>(), target.as<T>(),
                       dpred.empty() ? nullptr : dpred.as<T>(), [=](const T* p, const T* t, T* d) {
      double s = 0.0;
      for (std::int64_t c = 0; c < cols; ++c) {
        const double z = static_cast<double>(p[c]), y = static_cast<double>(t[c]);
        s += math::softplus(z) - z * y;
        if (d) d[c] = static_cast<T>(grad_scale * (math::sigmoid(z) - y));
      }
      return s;
    });
  });
}

// Per row: l = logsumexp(z) - z[label], logsumexp(z) = max + log sum_c exp(z - max) (exp in the tensor's
// precision, sums in double); dl/dz = softmax(z) - onehot(label) = exp(z - logsumexp(z)) - onehot(label).
// A row labelled kIgnoreLabel (-1) adds 0 and gets a zero gradient row.
double CpuBackend::softmax_ce_loss(const Tensor& logits, const Tensor& labels, const Tensor& dlogits,
                                   double grad_scale) {
  constexpr const char* k = "softmax_ce_loss";
  cpu::check_float(k, "logits", logits);
  cpu::check_host(k, "labels", labels);
  HPCT_CHECK(labels.dtype == DType::i32, k, ": labels must be int32, got ", name_of(labels.dtype));
  const std::int64_t rows = logits.rows(), cols = logits.cols();
  HPCT_CHECK(labels.numel() == rows, k, ": labels ", labels.shape.str(), " has ", labels.numel(),
             " elements, expected one per row of logits ", logits.shape.str());
  if (!dlogits.empty()) cpu::check_like(k, "logits", logits, "dlogits", dlogits);
  const std::int32_t* lab = labels.as<std::int32_t>();
  for (std::int64_t r = 0; r < rows; ++r)
    HPCT_CHECK((lab[r] >= 0 && lab[r] < cols) || lab[r] == kIgnoreLabel, k, ": label ", lab[r], " of row ", r,
               " is out of range [0, ", cols, ") (and not ", kIgnoreLabel, " = ignored)");
  return cpu::dispatch_float(k, logits.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* zp = logits.as<T>();
    T* dp = dlogits.empty() ? nullptr : dlogits.as<T>();
    return cpu::chunked_sum(threads_, rows, cpu::rows_per_block(cols, cpu::kGrainMath),
                            [=](std::int64_t r0, std::int64_t r1) {
      double s = 0.0;
      for (std::int64_t r = r0; r < r1; ++r) {
        const T* z = zp + r * cols;
        if (lab[r] == kIgnoreLabel) {
          if (dp) std::fill(dp + r * cols, dp + (r + 1) * cols, T(0));
          continue;
        }
        T mx = z[0];
#pragma omp simd reduction(max : mx)
        for (std::int64_t c = 1; c < cols; ++c) mx = math::hd_max(mx, z[c]);
        double se = 0.0;
#pragma omp simd reduction(+ : se)
        for (std::int64_t c = 0; c < cols; ++c) se += static_cast<double>(cpu::CpuOps::exp(z[c] - mx));
        const double lse = static_cast<double>(mx) + std::log(se);
        s += lse - static_cast<double>(z[lab[r]]);
        if (dp) {
          T* d = dp + r * cols;
          for (std::int64_t c = 0; c < cols; ++c)
            d[c] = static_cast<T>(grad_scale *
                                  static_cast<double>(cpu::CpuOps::exp(static_cast<T>(static_cast<double>(z[c]) - lse))));
          const double p_label = static_cast<double>(cpu::CpuOps::exp(static_cast<T>(static_cast<double>(z[lab[r]]) - lse)));
          d[lab[r]] = static_cast<T>(grad_scale * (p_label - 1.0));
        }
      }
      return s;
    });
  });
}

}  // namespace hpct::kernels
