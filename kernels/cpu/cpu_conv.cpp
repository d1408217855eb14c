// CpuBackend: the three 1-D convolution kernels on channels-last sequences (Conv1dGeom in kernels.hpp):
// forward, backward-data and backward-filter (+ bias). The transposed conv runs on the same three
// (kernels/backend.cpp). Direct loops, accumulated in double per output element, each output written
// by one thread in a fixed order: the same bits for any thread count.
//
// Notation: x [N, Lx, Cx], y [N, Ly, Cy], w [Cy, Cx, K]; input position of output o and tap k:
//   i(o, k) = o S - P + k D.
// Valid positions per sequence (Conv1dGeom): vx(n), vy(n); x is read as zero at i outside [0, vx),
// outputs at o >= vy are written as zero, and dy there is ignored.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/cpu/cpu_backend.hpp"
#include "kernels/common/conv_lengths.hpp"
#include "kernels/cpu/cpu_common.hpp"
#include "kernels/cpu/cpu_widen.hpp"

namespace hpct::kernels {
namespace {

struct Valid {
  const std::int32_t* lengths;
  std::int64_t lx, ly, stride;
  bool transposed;
  std::int64_t vx(std::int64_t n) const {
    if (!lengths) return lx;
    return transposed ? math::conv_transpose_valid_out(lengths[n], stride, lx) : lengths[n];
  }
  std::int64_t vy(std::int64_t n) const {
    if (!lengths) return ly;
    return transposed ? lengths[n] : math::conv_valid_out(lengths[n], stride, ly);
  }
};

Valid valid_of(const char* k, const Conv1dGeom& g, std::int64_t batch, std::int64_t lx, std::int64_t ly) {
  const std::int32_t* l = cpu::checked_lengths(k, g.lengths, batch, g.transposed ? ly : lx);
  return {l, lx, ly, g.stride, g.transposed};
}

}  // namespace

// y[n, o, c] = o < vy ? bias[c] + sum_k sum_ci w[c, ci, k] x[n, i(o, k), ci] : 0, i(o, k) in [0, vx).
// The weights are repacked to [K, Cy, Cx] so the inner dot runs over contiguous channels.
void CpuBackend::conv1d_forward_impl(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y,
                                     const Conv1dGeom& g) {
  if (widened([&](const Tensor& x32, const Tensor& w32, const Tensor& b32,
                  const Tensor& y32) { CpuBackend::conv1d_forward_impl(x32, w32, b32, y32, g); },
              cpu::in(x), cpu::in(w), cpu::in(bias), cpu::out(y)))
    return;
  constexpr const char* k = "conv1d_forward";
  const std::int64_t batch = x.dim(0), lx = x.dim(1), cx = x.dim(2), ly = y.dim(1), cy = y.dim(2), kk = w.dim(2);
  const Valid v = valid_of(k, g, batch, lx, ly);
  const std::int64_t S = g.stride, P = g.padding, D = g.dilation;
  cpu::dispatch_float(k, x.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* xp = x.ptr<T>();
    const T* wp = w.ptr<T>();
    const T* bp = bias.empty() ? nullptr : bias.ptr<T>();
    T* yp = y.ptr<T>();
    std::vector<T> wt(static_cast<std::size_t>(kk * cy * cx));
    for (std::int64_t c = 0; c < cy; ++c)
      for (std::int64_t ci = 0; ci < cx; ++ci)
        for (std::int64_t t = 0; t < kk; ++t) wt[(t * cy + c) * cx + ci] = wp[(c * cx + ci) * kk + t];
    const T* wtp = wt.data();
    cpu::parallel_blocks(threads_, batch * ly, cpu::rows_per_block(cy * cx * kk, cpu::kGrainMath),
                         [=](std::int64_t r0, std::int64_t r1) {
      std::vector<double> acc(static_cast<std::size_t>(cy));
      for (std::int64_t r = r0; r < r1; ++r) {
        const std::int64_t n = r / ly, o = r % ly;
        T* yr = yp + r * cy;
        if (o >= v.vy(n)) {
          std::fill(yr, yr + cy, T(0));
          continue;
        }
        const std::int64_t vx = v.vx(n);
        for (std::int64_t c = 0; c < cy; ++c) acc[c] = bp ? static_cast<double>(bp[c]) : 0.0;
        for (std::int64_t t = 0; t < kk; ++t) {
          const std::int64_t i = o * S - P + t * D;
          if (i < 0 || i >= vx) continue;
          const T* xr = xp + (n * lx + i) * cx;
          for (std::int64_t c = 0; c < cy; ++c) {
            const T* wr = wtp + (t * cy + c) * cx;
            double s = 0.0;
#pragma omp simd reduction(+ : s)
            for (std::int64_t ci = 0; ci < cx; ++ci) s += static_cast<double>(wr[ci]) * static_cast<double>(xr[ci]);
            acc[c] += s;
          }
        }
        for (std::int64_t c = 0; c < cy; ++c) yr[c] = static_cast<T>(acc[c]);
      }
    });
  });
}

// dx[n, i, ci] = i < vx ? bias[ci] + sum_{k : o = (i + P - k D) / S exact, 0 <= o < vy} sum_c w[c, ci, k] dy[n, o, c]
// : 0 (bias only for a transposed conv's forward). Weights repacked to [K, Cx, Cy].
void CpuBackend::conv1d_backward_data_impl(const Tensor& dy, const Tensor& w, const Tensor& bias, const Tensor& dx,
                                           const Conv1dGeom& g) {
  if (widened([&](const Tensor& g32, const Tensor& w32, const Tensor& b32,
                  const Tensor& dx32) { CpuBackend::conv1d_backward_data_impl(g32, w32, b32, dx32, g); },
              cpu::in(dy), cpu::in(w), cpu::in(bias), cpu::out(dx)))
    return;
  constexpr const char* k = "conv1d_backward_data";
  const std::int64_t batch = dx.dim(0), lx = dx.dim(1), cx = dx.dim(2), ly = dy.dim(1), cy = dy.dim(2), kk = w.dim(2);
  const Valid v = valid_of(k, g, batch, lx, ly);
  const std::int64_t S = g.stride, P = g.padding, D = g.dilation;
  cpu::dispatch_float(k, dx.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* gp = dy.ptr<T>();
    const T* wp = w.ptr<T>();
    const T* bp = bias.empty() ? nullptr : bias.ptr<T>();
    T* dp = dx.ptr<T>();
    std::vector<T> wt(static_cast<std::size_t>(kk * cx * cy));
    for (std::int64_t c = 0; c < cy; ++c)
      for (std::int64_t ci = 0; ci < cx; ++ci)
        for (std::int64_t t = 0; t < kk; ++t) wt[(t * cx + ci) * cy + c] = wp[(c * cx + ci) * kk + t];
    const T* wtp = wt.data();
    cpu::parallel_blocks(threads_, batch * lx, cpu::rows_per_block(cy * cx * kk, cpu::kGrainMath),
                         [=](std::int64_t r0, std::int64_t r1) {
      std::vector<double> acc(static_cast<std::size_t>(cx));
      for (std::int64_t r = r0; r < r1; ++r) {
        const std::int64_t n = r / lx, i = r % lx;
        T* dr = dp + r * cx;
        if (i >= v.vx(n)) {
          std::fill(dr, dr + cx, T(0));
          continue;
        }
        const std::int64_t vy = v.vy(n);
        for (std::int64_t ci = 0; ci < cx; ++ci) acc[ci] = bp ? static_cast<double>(bp[ci]) : 0.0;
        for (std::int64_t t = 0; t < kk; ++t) {
          const std::int64_t num = i + P - t * D;
          if (num < 0 || num % S != 0) continue;
          const std::int64_t o = num / S;
          if (o >= vy) continue;
          const T* gr = gp + (n * ly + o) * cy;
          for (std::int64_t ci = 0; ci < cx; ++ci) {
            const T* wr = wtp + (t * cx + ci) * cy;
            double s = 0.0;
#pragma omp simd reduction(+ : s)
            for (std::int64_t c = 0; c < cy; ++c) s += static_cast<double>(wr[c]) * static_cast<double>(gr[c]);
            acc[ci] += s;
          }
        }
        for (std::int64_t ci = 0; ci < cx; ++ci) dr[ci] = static_cast<T>(acc[ci]);
      }
    });
  });
}

// dw[c, ci, k] += sum_n sum_{o < vy, i(o, k) in [0, vx)} dy[n, o, c] x[n, i(o, k), ci]; output channels
// in parallel, each summed over (n, o) in order. dbias: conv: dbias[c] += sum_{n, o < vy} dy[n, o, c];
// transposed (the bias is on x): dbias[ci] += sum_{n, i < vx} x[n, i, ci].
void CpuBackend::conv1d_backward_filter_impl(const Tensor& x, const Tensor& dy, const Tensor& dw, const Tensor& dbias,
                                             const Conv1dGeom& g) {
  if (widened([&](const Tensor& x32, const Tensor& g32, const Tensor& dw32,
                  const Tensor& db32) { CpuBackend::conv1d_backward_filter_impl(x32, g32, dw32, db32, g); },
              cpu::in(x), cpu::in(dy), cpu::inout(dw), cpu::inout(dbias)))
    return;
  constexpr const char* k = "conv1d_backward_filter";
  const std::int64_t batch = x.dim(0), lx = x.dim(1), cx = x.dim(2), ly = dy.dim(1), cy = dy.dim(2), kk = dw.dim(2);
  const Valid v = valid_of(k, g, batch, lx, ly);
  const std::int64_t S = g.stride, P = g.padding, D = g.dilation;
  cpu::dispatch_float(k, x.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* xp = x.ptr<T>();
    const T* gp = dy.ptr<T>();
    T* wp = dw.ptr<T>();
    T* bp = dbias.empty() ? nullptr : dbias.ptr<T>();
    const bool bias_on_y = !g.transposed;
    cpu::parallel_blocks(threads_, cy, 1, [=](std::int64_t c0, std::int64_t c1) {
      std::vector<double> acc(static_cast<std::size_t>(kk * cx));
      for (std::int64_t c = c0; c < c1; ++c) {
        std::fill(acc.begin(), acc.end(), 0.0);
        double bsum = 0.0;
        for (std::int64_t n = 0; n < batch; ++n) {
          const std::int64_t vx = v.vx(n), vy = v.vy(n);
          for (std::int64_t o = 0; o < vy; ++o) {
            const double gv = static_cast<double>(gp[(n * ly + o) * cy + c]);
            bsum += gv;
            for (std::int64_t t = 0; t < kk; ++t) {
              const std::int64_t i = o * S - P + t * D;
              if (i < 0 || i >= vx) continue;
              const T* xr = xp + (n * lx + i) * cx;
              double* ar = acc.data() + t * cx;
#pragma omp simd
              for (std::int64_t ci = 0; ci < cx; ++ci) ar[ci] += gv * static_cast<double>(xr[ci]);
            }
          }
        }
        for (std::int64_t ci = 0; ci < cx; ++ci)
          for (std::int64_t t = 0; t < kk; ++t) {
            T& d = wp[(c * cx + ci) * kk + t];
            d = static_cast<T>(static_cast<double>(d) + acc[t * cx + ci]);
          }
        if (bp && bias_on_y) bp[c] = static_cast<T>(static_cast<double>(bp[c]) + bsum);
      }
    });
    if (bp && !bias_on_y) {
      cpu::parallel_blocks(threads_, cx, 1, [=](std::int64_t c0, std::int64_t c1) {
        for (std::int64_t ci = c0; ci < c1; ++ci) {
          double s = 0.0;
          for (std::int64_t n = 0; n < batch; ++n) {
            const std::int64_t vx = v.vx(n);
            for (std::int64_t i = 0; i < vx; ++i) s += static_cast<double>(xp[(n * lx + i) * cx + ci]);
          }
          bp[ci] = static_cast<T>(static_cast<double>(bp[ci]) + s);
        }
      });
    }
  });
}

}  // namespace hpct::kernels
