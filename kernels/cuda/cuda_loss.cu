// CudaBackend: losses. Two kernels per loss, in stream order: the first counts the rows that count (and
// checks labels / lengths), adds the count to acc[1] and leaves the gradient factor in scratch; the
// second sums the per-element losses (double, block sums added atomically to acc[0]) and writes dpred =
// factor * d(sum)/d(pred), zero at uncounted rows. factor = grad_scale * grad_multiplier[0] (/ count
// with mean; 0 when nothing counts).
#include <cstdint>

#include "kernels/common/math.hpp"
#include "kernels/cuda/cuda_backend.hpp"
#include "kernels/cuda/cuda_common.cuh"

namespace hpct::kernels::cuda {
namespace {

// scratch[0] = count, scratch[1] = the gradient factor; acc[1] += count. One block.
// Float losses: count = (rows with position < length) * per_row; lengths null: rows * per_row.
// Cross-entropy (labels given): rows whose label is not kIgnoreLabel; a label outside [0, cols) is reported.
__global__ void loss_count_kernel(const std::int32_t* lengths, std::int64_t seqs, std::int64_t len,
                                  const std::int32_t* labels, std::int64_t rows, std::int64_t cols,
                                  std::int64_t per_row, double grad_scale, const double* grad_multiplier, bool mean,
                                  double* scratch, double* acc, DeviceError* err) {
  double n = 0.0;
  if (labels) {
    for (std::int64_t r = threadIdx.x; r < rows; r += blockDim.x) {
      const std::int32_t l = labels[r];
      if (l == kIgnoreLabel) continue;
      if (l < 0 || l >= cols) err->report(DeviceError::label_out_of_range, r, l, cols);
      else n += 1.0;
    }
  } else if (lengths) {
    for (std::int64_t s = threadIdx.x; s < seqs; s += blockDim.x) {
      const std::int32_t l = lengths[s];
      if (l < 0 || l > len) err->report(DeviceError::length_out_of_range, s, l, len);
      else n += static_cast<double>(l);
    }
  } else {
    n = threadIdx.x == 0 ? static_cast<double>(rows) : 0.0;
  }
  n = block_sum(n);
  if (threadIdx.x == 0) {
    const double count = labels ? n : n * static_cast<double>(per_row);
    double f = grad_scale;
    if (grad_multiplier) f *= *grad_multiplier;
    if (mean) f = count > 0.0 ? f / count : 0.0;
    scratch[0] = count;
    scratch[1] = f;
    acc[1] += count;
  }
}

enum Kind : int { kMse, kGaussianNll, kBce };

// Row r of pred [rows, pc] against target [rows, tc]; lengths as in loss_count_kernel.
//   mse: l = (p - t)^2, dl/dp = 2 (p - t)
//   gaussian_nll (pred = mean | log-variance s): l = 0.5 (s + (t - m)^2 e^-s); dl/dm = (m - t) e^-s;
//                dl/ds = 0.5 (1 - (t - m)^2 e^-s)
//   bce: l = softplus(z) - z t; dl/dz = sigmoid(z) - t
template <class T, int K>
__global__ void float_loss_kernel(const T* pred, const T* target, T* dpred, const std::int32_t* lengths,
                                  std::int64_t len, std::int64_t rows, std::int64_t tc, const double* scratch,
                                  double* acc) {
  const std::int64_t pc = K == kGaussianNll ? 2 * tc : tc;
  const double f = scratch[1];
  double s = 0.0;
  HPCT_GRID_LOOP(r, rows) {
    const bool counted = !lengths || r % len < lengths[r / len];
    const T* p = pred + r * pc;
    const T* t = target + r * tc;
    T* d = dpred ? dpred + r * pc : nullptr;
    for (std::int64_t c = 0; c < tc; ++c) {
      if (!counted) {
        if (d) {
          d[c] = store<T>(0.0);
          if (K == kGaussianNll) d[tc + c] = store<T>(0.0);
        }
        continue;
      }
      if constexpr (K == kMse) {
        const double e = static_cast<double>(load(p[c])) - static_cast<double>(load(t[c]));
        s += e * e;
        if (d) d[c] = store<T>(f * 2.0 * e);
      } else if constexpr (K == kGaussianNll) {
        const double mu = load(p[c]), logvar = load(p[tc + c]);
        const double e = static_cast<double>(load(t[c])) - mu, w = exp(-logvar);
        s += 0.5 * (logvar + e * e * w);
        if (d) {
          d[c] = store<T>(f * (-e * w));
          d[tc + c] = store<T>(f * 0.5 * (1.0 - e * e * w));
        }
      } else {
        const double z = load(p[c]), y = load(t[c]);
        s += math::softplus(z) - z * y;
        if (d) d[c] = store<T>(f * (math::sigmoid(z) - y));
      }
    }
  }
  s = block_sum(s);
  if (threadIdx.x == 0) atomicAdd(acc, s);
}

// One block per row: l = logsumexp(z) - z[label]; dl/dz = exp(z - lse) - onehot(label); ignored (or
// invalid) labels: not summed, zero gradient row.
template <class T>
__global__ void softmax_ce_kernel(const T* logits, const std::int32_t* labels, T* dlogits, std::int64_t cols,
                                  const double* scratch, double* acc) {
  using Acc = acc_t<T>;
  const std::int64_t r = blockIdx.x;
  const T* z = logits + r * cols;
  T* d = dlogits ? dlogits + r * cols : nullptr;
  const std::int32_t lab = labels[r];
  if (lab < 0 || lab >= cols) {
    if (d)
      for (std::int64_t c = threadIdx.x; c < cols; c += blockDim.x) d[c] = store<T>(Acc(0));
    return;
  }
  const RowExp<T> e = row_exp(z, cols);
  const double lse = static_cast<double>(e.max) + log(e.sum);
  if (threadIdx.x == 0) atomicAdd(acc, lse - static_cast<double>(load(z[lab])));
  if (!d) return;
  const double f = scratch[1];
  for (std::int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    const double p = static_cast<double>(math::hd_exp(static_cast<Acc>(static_cast<double>(load(z[c])) - lse)));
    d[c] = store<T>(f * (c == lab ? p - 1.0 : p));
  }
}


}  // namespace

void CudaBackend::float_loss_impl(FloatLoss kind, const Tensor& pred, const Tensor& target, const Tensor& dpred,
                                  const LossArgs& args, const Tensor& acc) {
  const std::int64_t rows = pred.rows(), tc = target.cols();
  const bool lengths = !args.lengths.empty();
  const std::int64_t len = lengths ? pred.dim(1) : 1, seqs = lengths ? pred.dim(0) : 0;
  const std::int32_t* lp = lengths ? args.lengths.ptr<std::int32_t>() : nullptr;
  Scratch scratch(2 * sizeof(double), cur());
  loss_count_kernel<<<1, 256, 0, cur()>>>(lp, seqs, len, nullptr, rows, 0, tc, args.grad_scale,
                                          args.grad_multiplier.empty() ? nullptr : args.grad_multiplier.ptr<double>(),
                                          args.mean, scratch.as<double>(), acc.ptr<double>(), device_error());
  HPCT_CUDA_LAUNCH_CHECK();
  if (rows == 0) return;
  dispatch_float("float_loss", pred.dtype, [&](auto z) {
    using T = decltype(z);
    T* dp = dpred.empty() ? nullptr : dpred.ptr<T>();
    const unsigned grid = grid_for(rows, sm_count());
    switch (kind) {
      case FloatLoss::mse:
        float_loss_kernel<T, kMse><<<grid, kThreads, 0, cur()>>>(pred.ptr<T>(), target.ptr<T>(), dp, lp, len, rows,
                                                                 tc, scratch.as<double>(), acc.ptr<double>());
        break;
      case FloatLoss::gaussian_nll:
        float_loss_kernel<T, kGaussianNll><<<grid, kThreads, 0, cur()>>>(pred.ptr<T>(), target.ptr<T>(), dp, lp, len,
                                                                         rows, tc, scratch.as<double>(),
                                                                         acc.ptr<double>());
        break;
      case FloatLoss::bce:
        float_loss_kernel<T, kBce><<<grid, kThreads, 0, cur()>>>(pred.ptr<T>(), target.ptr<T>(), dp, lp, len, rows,
                                                                 tc, scratch.as<double>(), acc.ptr<double>());
        break;
    }
  });
  HPCT_CUDA_LAUNCH_CHECK();
}

void CudaBackend::softmax_ce_loss_impl(const Tensor& logits, const Tensor& labels, const Tensor& dlogits,
                                       const LossArgs& args, const Tensor& acc) {
  const std::int64_t rows = logits.rows(), cols = logits.cols();
  Scratch scratch(2 * sizeof(double), cur());
  loss_count_kernel<<<1, 256, 0, cur()>>>(nullptr, 0, 1, labels.ptr<std::int32_t>(), rows, cols, 1, args.grad_scale,
                                          args.grad_multiplier.empty() ? nullptr : args.grad_multiplier.ptr<double>(),
                                          args.mean, scratch.as<double>(), acc.ptr<double>(), device_error());
  HPCT_CUDA_LAUNCH_CHECK();
  if (rows == 0) return;
  dispatch_float("softmax_ce_loss", logits.dtype, [&](auto z) {
    using T = decltype(z);
    softmax_ce_kernel<T><<<static_cast<unsigned>(rows), row_threads(cols), 0, cur()>>>(
        logits.ptr<T>(), labels.ptr<std::int32_t>(), dlogits.empty() ? nullptr : dlogits.ptr<T>(), cols,
        scratch.as<double>(), acc.ptr<double>());
  });
  HPCT_CUDA_LAUNCH_CHECK();
}

}  // namespace hpct::kernels::cuda
