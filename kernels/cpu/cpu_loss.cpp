// CpuBackend: losses. Each adds {the SUM of the per-element (per-row) losses, the number of counted
// elements} to the f64 accumulator, the sum computed in double over fixed row chunks added in chunk
// order (the same bits for any thread count), and writes dpred = scale * d(sum)/d(pred) when dpred is
// not empty, scale = grad_scale * grad_multiplier[0] (/ count with mean); uncounted rows get zeros.
// Per-token float losses skip the padding rows given by the lengths (rows l >= lengths[n] of
// sequence n); cross-entropy skips rows labelled kIgnoreLabel.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/common/math.hpp"
#include "kernels/cpu/cpu_backend.hpp"
#include "kernels/cpu/cpu_common.hpp"
#include "kernels/cpu/cpu_vmath.hpp"
#include "kernels/cpu/cpu_widen.hpp"

namespace hpct::kernels {
namespace {

// Which rows of a [N, L, ...] (or any) prediction count: with lengths, row r (sequence r / len,
// position r % len) counts when its position is below the sequence's length; without, every row.
struct RowMask {
  const std::int32_t* lengths = nullptr;
  std::int64_t len = 1;
  bool counted(std::int64_t r) const { return !lengths || r % len < lengths[r / len]; }
  std::int64_t counted_rows(std::int64_t rows) const {
    if (!lengths) return rows;
    std::int64_t n = 0;
    for (std::int64_t s = 0; s < rows / len; ++s) n += lengths[s];
    return n;
  }
};

// The gradient's factor: grad_scale, times grad_multiplier[0] when given, over count with mean (0
// when nothing counts: every row's gradient is zero then anyway).
double gradient_scale(const LossArgs& args, std::int64_t count) {
  double s = args.grad_scale;
  if (!args.grad_multiplier.empty()) s *= *args.grad_multiplier.ptr<double>();
  if (args.mean) s = count > 0 ? s / static_cast<double>(count) : 0.0;
  return s;
}

void accumulate(const Tensor& acc, double sum, std::int64_t count) {
  double* a = acc.ptr<double>();
  a[0] += sum;
  a[1] += static_cast<double>(count);
}

// Runs loss_row(pred_row, target_row, dpred_row or nullptr) -> double over the counted rows, in
// parallel over fixed row chunks, and returns the sum; uncounted rows of dpred are zeroed.
template <class T, class F>
double sum_rows(int threads, std::int64_t rows, std::int64_t pred_cols, std::int64_t target_cols, const T* pred,
                const T* target, T* dpred, const RowMask& mask, F&& loss_row) {
  return cpu::chunked_sum(threads, rows, cpu::rows_per_block(pred_cols, cpu::kGrainMath),
                          [&](std::int64_t r0, std::int64_t r1) {
    double s = 0.0;
    for (std::int64_t r = r0; r < r1; ++r) {
      T* d = dpred ? dpred + r * pred_cols : nullptr;
      if (!mask.counted(r)) {
        if (d) std::fill(d, d + pred_cols, T(0));
        continue;
      }
      s += loss_row(pred + r * pred_cols, target + r * target_cols, d);
    }
    return s;
  });
}

}  // namespace

// mse: l = (p - t)^2; dl/dp = 2 (p - t).
// gaussian_nll: pred row = (m [T], s [T]), s the log-variance:
//   l = 0.5 (s + (t - m)^2 exp(-s));  dl/dm = (m - t) exp(-s);  dl/ds = 0.5 (1 - (t - m)^2 exp(-s)).
// bce: l = max(z, 0) - z t + log(1 + exp(-|z|)) (= softplus(z) - z t, stable); dl/dz = sigmoid(z) - t.
// No simd reductions: a vectorised sum would be ordered differently with and without the gradient
// store, and the sum must not depend on whether dpred is asked for.
void CpuBackend::float_loss_impl(FloatLoss kind, const Tensor& pred, const Tensor& target, const Tensor& dpred,
                                 const LossArgs& args, const Tensor& acc) {
  if (widened([&](const Tensor& p32, const Tensor& t32,
                  const Tensor& d32) { CpuBackend::float_loss_impl(kind, p32, t32, d32, args, acc); },
              cpu::in(pred), cpu::in(target), cpu::out(dpred)))
    return;
  const char* k = kind == FloatLoss::mse ? "mse_loss" : kind == FloatLoss::bce ? "bce_logits_loss" : "gaussian_nll_loss";
  const std::int64_t rows = pred.rows(), tc = target.cols();
  RowMask mask;
  if (!args.lengths.empty()) {
    mask.len = pred.dim(1);
    mask.lengths = cpu::checked_lengths(k, args.lengths, pred.dim(0), mask.len);
  }
  const std::int64_t count = mask.counted_rows(rows) * tc;
  const double scale = gradient_scale(args, count);
  const double sum = cpu::dispatch_float(k, pred.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* pp = pred.ptr<T>();
    const T* tp = target.ptr<T>();
    T* dp = dpred.empty() ? nullptr : dpred.ptr<T>();
    switch (kind) {
      case FloatLoss::mse:
        return sum_rows<T>(threads_, rows, tc, tc, pp, tp, dp, mask, [=](const T* p, const T* t, T* d) {
          double s = 0.0;
          for (std::int64_t c = 0; c < tc; ++c) {
            const double e = static_cast<double>(p[c]) - static_cast<double>(t[c]);
            s += e * e;
            if (d) d[c] = static_cast<T>(scale * 2.0 * e);
          }
          return s;
        });
      case FloatLoss::gaussian_nll:
        return sum_rows<T>(threads_, rows, 2 * tc, tc, pp, tp, dp, mask, [=](const T* p, const T* t, T* d) {
          double s = 0.0;
          for (std::int64_t c = 0; c < tc; ++c) {
            const double mu = static_cast<double>(p[c]), logvar = static_cast<double>(p[tc + c]);
            const double e = static_cast<double>(t[c]) - mu;
            const double w = std::exp(-logvar);
            s += 0.5 * (logvar + e * e * w);
            if (d) {
              d[c] = static_cast<T>(scale * (-e * w));
              d[tc + c] = static_cast<T>(scale * 0.5 * (1.0 - e * e * w));
            }
          }
          return s;
        });
      case FloatLoss::bce:
        return sum_rows<T>(threads_, rows, tc, tc, pp, tp, dp, mask, [=](const T* p, const T* t, T* d) {
          double s = 0.0;
          for (std::int64_t c = 0; c < tc; ++c) {
            const double z = static_cast<double>(p[c]), y = static_cast<double>(t[c]);
            s += math::softplus(z) - z * y;
            if (d) d[c] = static_cast<T>(scale * (math::sigmoid(z) - y));
          }
          return s;
        });
    }
    return 0.0;
  });
  accumulate(acc, sum, count);
}

// Per row: l = logsumexp(z) - z[label], logsumexp(z) = max + log sum_c exp(z - max) (exp in the tensor's
// precision, sums in double); dl/dz = softmax(z) - onehot(label) = exp(z - logsumexp(z)) - onehot(label).
// A row labelled kIgnoreLabel (-1) is not counted and gets a zero gradient row.
void CpuBackend::softmax_ce_loss_impl(const Tensor& logits, const Tensor& labels, const Tensor& dlogits,
                                      const LossArgs& args, const Tensor& acc) {
  if (widened([&](const Tensor& z32,
                  const Tensor& d32) { CpuBackend::softmax_ce_loss_impl(z32, labels, d32, args, acc); },
              cpu::in(logits), cpu::out(dlogits)))
    return;
  constexpr const char* k = "softmax_ce_loss";
  const std::int64_t rows = logits.rows(), cols = logits.cols();
  const std::int32_t* lab = labels.ptr<std::int32_t>();
  std::int64_t count = 0;
  for (std::int64_t r = 0; r < rows; ++r) {
    HPCT_CHECK((lab[r] >= 0 && lab[r] < cols) || lab[r] == kIgnoreLabel, k, ": label ", lab[r], " of row ", r,
               " is out of range [0, ", cols, ") (and not ", kIgnoreLabel, " = ignored)");
    count += lab[r] != kIgnoreLabel;
  }
  const double scale = gradient_scale(args, count);
  const double sum = cpu::dispatch_float(k, logits.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* zp = logits.ptr<T>();
    T* dp = dlogits.empty() ? nullptr : dlogits.ptr<T>();
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
            d[c] = static_cast<T>(scale *
                                  static_cast<double>(cpu::CpuOps::exp(static_cast<T>(static_cast<double>(z[c]) - lse))));
          const double p_label = static_cast<double>(cpu::CpuOps::exp(static_cast<T>(static_cast<double>(z[lab[r]]) - lse)));
          d[lab[r]] = static_cast<T>(scale * (p_label - 1.0));
        }
      }
      return s;
    });
  });
  accumulate(acc, sum, count);
}

}  // namespace hpct::kernels
