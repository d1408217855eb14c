// The 1-D convolution kernels (conv1d and conv_transpose1d: forward, backward-data, backward-filter with
// bias) of the CPU backend: forwards against naive double loops written here (gather for the conv, scatter
// for the transposed conv), every backward against central finite differences of sum(y * r) in float64,
// with kernel sizes, strides, paddings, dilations, output padding and /lengths masks; the same bits on 1,
// 2 and 3 threads; argument errors naming the kernel and the value.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "core/error.hpp"
#include "core/tensor.hpp"
#include "kernels/kernels.hpp"
#include "kernel_test_support.hpp"
#include "test_support.hpp"

using hpct::DType;
using hpct::Shape;
using hpct::Tensor;
using namespace hpct::kernels;

namespace {

using hpct::test::be;
using hpct::test::check_close;
using hpct::test::check_throws_with;
using hpct::test::Host;
using hpct::test::rand_host;
using hpct::test::same_bits;
using hpct::test::to_double;
using hpct::test::tol;

struct ConvCase {
  bool transposed;
  std::int64_t n, lin, cin, cout, k, stride, padding, dilation, out_pad;
  bool lengths;
};

std::int64_t out_len(const ConvCase& c) {
  return c.transposed ? (c.lin - 1) * c.stride - 2 * c.padding + c.dilation * (c.k - 1) + c.out_pad + 1
                      : (c.lin + 2 * c.padding - c.dilation * (c.k - 1) - 1) / c.stride + 1;
}

std::vector<std::int32_t> case_lengths(const ConvCase& c) {
  std::vector<std::int32_t> l(static_cast<std::size_t>(c.n));
  for (std::int64_t i = 0; i < c.n; ++i) l[i] = static_cast<std::int32_t>(c.lengths ? 1 + (i * 5 + 3) % c.lin : c.lin);
  if (c.lengths) l[0] = static_cast<std::int32_t>(c.lin);
  return l;
}

// The reference, independent of the kernel's loops: the conv gathers, the transposed conv scatters.
std::vector<double> reference(const ConvCase& c, const std::vector<double>& x, const std::vector<double>& w,
                              const std::vector<double>& b, const std::vector<std::int32_t>& len) {
  const std::int64_t lo = out_len(c);
  std::vector<double> y(static_cast<std::size_t>(c.n * lo * c.cout), 0.0);
  for (std::int64_t n = 0; n < c.n; ++n) {
    const std::int64_t valid_out = !c.lengths   ? lo
                                   : c.transposed ? std::min<std::int64_t>(len[n] * c.stride, lo)
                                                  : std::min<std::int64_t>((len[n] + c.stride - 1) / c.stride, lo);
    if (!c.transposed) {
      for (std::int64_t o = 0; o < valid_out; ++o)
        for (std::int64_t co = 0; co < c.cout; ++co) {
          double s = b.empty() ? 0.0 : b[co];
          for (std::int64_t t = 0; t < c.k; ++t) {
            const std::int64_t i = o * c.stride - c.padding + t * c.dilation;
            if (i < 0 || i >= len[n]) continue;
            for (std::int64_t ci = 0; ci < c.cin; ++ci)
              s += w[(co * c.cin + ci) * c.k + t] * x[(n * c.lin + i) * c.cin + ci];
          }
          y[(n * lo + o) * c.cout + co] = s;
        }
    } else {
      for (std::int64_t i = 0; i < len[n]; ++i)
        for (std::int64_t t = 0; t < c.k; ++t) {
          const std::int64_t o = i * c.stride - c.padding + t * c.dilation;
          if (o < 0 || o >= valid_out) continue;
          for (std::int64_t ci = 0; ci < c.cin; ++ci)
            for (std::int64_t co = 0; co < c.cout; ++co)
              y[(n * lo + o) * c.cout + co] += w[(ci * c.cout + co) * c.k + t] * x[(n * c.lin + i) * c.cin + ci];
        }
      if (!b.empty())
        for (std::int64_t o = 0; o < valid_out; ++o)
          for (std::int64_t co = 0; co < c.cout; ++co) y[(n * lo + o) * c.cout + co] += b[co];
    }
  }
  return y;
}

Shape w_shape(const ConvCase& c) { return c.transposed ? Shape{c.cin, c.cout, c.k} : Shape{c.cout, c.cin, c.k}; }
Conv1dArgs args_of(const ConvCase& c, Host<std::int32_t>& len) {
  Conv1dArgs a;
  a.stride = c.stride;
  a.padding = c.padding;
  a.dilation = c.dilation;
  a.output_padding = c.out_pad;
  if (c.lengths) a.lengths = len.t();
  return a;
}

void forward(Backend& b, const ConvCase& c, Host<double>& x, Host<double>& w, Host<double>& bias, Host<double>& y,
             const Conv1dArgs& a) {
  if (c.transposed)
    b.conv_transpose1d_forward(x.t(), w.t(), bias.t(), y.t(), a);
  else
    b.conv1d_forward(x.t(), w.t(), bias.t(), y.t(), a);
}

const std::vector<ConvCase> kCases = {
    {false, 3, 11, 4, 5, 3, 1, 1, 1, 0, false},  // "same" conv
    {false, 3, 11, 4, 5, 3, 1, 1, 1, 0, true},   // masked by lengths
    {false, 4, 13, 3, 2, 5, 1, 4, 2, 0, true},   // dilated "same"
    {false, 3, 12, 3, 4, 3, 2, 1, 1, 0, true},   // strided (down-sampling)
    {false, 2, 9, 2, 3, 4, 3, 0, 1, 0, false},   // no padding, stride 3
    {true, 3, 6, 4, 3, 2, 2, 0, 1, 0, true},     // the U-Net's up-sampling
    {true, 3, 5, 3, 2, 4, 2, 1, 1, 1, true},     // overlapping taps, output padding
    {true, 2, 7, 2, 3, 3, 1, 1, 2, 0, false},    // dilated transposed
};

}  // namespace

TEST_CASE("conv1d / conv_transpose1d: forward against naive loops, every backward against finite differences") {
  for (std::size_t ci = 0; ci < kCases.size(); ++ci) {
    const ConvCase c = kCases[ci];
    CAPTURE(ci);
    const std::int64_t lo = out_len(c);
    auto x = rand_host<double>(Shape{c.n, c.lin, c.cin}, 10 + ci);
    auto w = rand_host<double>(w_shape(c), 20 + ci);
    auto bias = rand_host<double>(Shape{c.cout}, 30 + ci);
    auto r = rand_host<double>(Shape{c.n, lo, c.cout}, 40 + ci);
    Host<std::int32_t> len(Shape{c.n});
    len.v = case_lengths(c);
    const Conv1dArgs a = args_of(c, len);
    Host<double> y(Shape{c.n, lo, c.cout}, 9.0);
    forward(be(), c, x, w, bias, y, a);
    check_close(y.v, reference(c, x.v, w.v, bias.v, len.v), 1e-13, 1e-13, "y");

    // L = sum(y * r); analytic gradients.
    Host<double> dx(x.shape, 7.0), dw(w.shape, 0.0), db(bias.shape, 0.0);
    if (c.transposed) {
      be().conv_transpose1d_backward_data(r.t(), w.t(), dx.t(), a);
      be().conv_transpose1d_backward_filter(x.t(), r.t(), dw.t(), db.t(), a);
    } else {
      be().conv1d_backward_data(r.t(), w.t(), dx.t(), a);
      be().conv1d_backward_filter(x.t(), r.t(), dw.t(), db.t(), a);
    }
    auto loss = [&] {
      Host<double> yy(Shape{c.n, lo, c.cout});
      forward(be(), c, x, w, bias, yy, a);
      double s = 0.0;
      for (std::int64_t i = 0; i < yy.n(); ++i) s += yy[i] * r[i];
      return s;
    };
    auto numeric = [&](Host<double>& t) {
      std::vector<double> g(t.v.size());
      for (std::size_t i = 0; i < g.size(); ++i) {
        const double keep = t.v[i], h = 1e-6;
        t.v[i] = keep + h;
        const double up = loss();
        t.v[i] = keep - h;
        const double down = loss();
        t.v[i] = keep;
        g[i] = (up - down) / (2 * h);
      }
      return g;
    };
    check_close(dx.v, numeric(x), 1e-7, 1e-8, "dx");
    check_close(dw.v, numeric(w), 1e-7, 1e-8, "dw");
    check_close(db.v, numeric(bias), 1e-7, 1e-8, "dbias");
    // Masked input positions get exactly zero gradient.
    for (std::int64_t n = 0; n < c.n; ++n)
      for (std::int64_t i = len[n]; i < c.lin; ++i)
        for (std::int64_t k = 0; k < c.cin; ++k) CHECK(dx[(n * c.lin + i) * c.cin + k] == 0.0);
    // The filter gradient accumulates.
    Host<double> dw2(w.shape, 0.0), db2(bias.shape, 0.0);
    dw2.v = dw.v;
    db2.v = db.v;
    if (c.transposed)
      be().conv_transpose1d_backward_filter(x.t(), r.t(), dw2.t(), db2.t(), a);
    else
      be().conv1d_backward_filter(x.t(), r.t(), dw2.t(), Tensor{}, a);
    for (std::size_t i = 0; i < dw.v.size(); ++i) CHECK(dw2.v[i] == doctest::Approx(2 * dw.v[i]).epsilon(1e-12));
  }
}

TEST_CASE_TEMPLATE("conv1d kernels in float32 and the 16-bit types match float64", T, float, hpct::bf16, hpct::f16) {
  const ConvCase c{false, 3, 12, 6, 5, 3, 2, 1, 1, 0, true};
  const std::int64_t lo = out_len(c);
  auto x = rand_host<T>(Shape{c.n, c.lin, c.cin}, 1);
  auto w = rand_host<T>(w_shape(c), 2);
  auto bias = rand_host<T>(Shape{c.cout}, 3);
  Host<std::int32_t> len(Shape{c.n});
  len.v = case_lengths(c);
  const Conv1dArgs a = args_of(c, len);
  Host<T> y(Shape{c.n, lo, c.cout});
  be().conv1d_forward(x.t(), w.t(), bias.t(), y.t(), a);
  // 16-bit outputs are rounded once from the f32 sum (bf16: 2^-8 relative; f16: 2^-11).
  const double rtol = std::is_same_v<T, float> ? 1e-5 : std::is_same_v<T, hpct::bf16> ? 8e-3 : 1e-3;
  check_close(to_double(y), reference(c, to_double(x), to_double(w), to_double(bias), len.v), rtol, rtol, "y");
}

TEST_CASE("conv1d kernels give the same bits on 1, 2 and 3 threads") {
  std::vector<std::vector<float>> first;
  for (const int threads : {1, 2, 3}) {
    auto b = make_cpu_backend(threads);
    std::vector<std::vector<float>> res;
    for (const ConvCase& c : {ConvCase{false, 8, 40, 16, 24, 5, 1, 4, 2, 0, true},
                              ConvCase{true, 8, 20, 16, 8, 2, 2, 0, 1, 0, true}}) {
      const std::int64_t lo = out_len(c);
      auto x = rand_host<float>(Shape{c.n, c.lin, c.cin}, 1);
      auto w = rand_host<float>(w_shape(c), 2);
      auto bias = rand_host<float>(Shape{c.cout}, 3);
      auto r = rand_host<float>(Shape{c.n, lo, c.cout}, 4);
      Host<std::int32_t> len(Shape{c.n});
      len.v = case_lengths(c);
      const Conv1dArgs a = args_of(c, len);
      Host<float> y(Shape{c.n, lo, c.cout}), dx(x.shape), dw(w.shape), db(bias.shape);
      if (c.transposed) {
        b->conv_transpose1d_forward(x.t(), w.t(), bias.t(), y.t(), a);
        b->conv_transpose1d_backward_data(r.t(), w.t(), dx.t(), a);
        b->conv_transpose1d_backward_filter(x.t(), r.t(), dw.t(), db.t(), a);
      } else {
        b->conv1d_forward(x.t(), w.t(), bias.t(), y.t(), a);
        b->conv1d_backward_data(r.t(), w.t(), dx.t(), a);
        b->conv1d_backward_filter(x.t(), r.t(), dw.t(), db.t(), a);
      }
      for (auto* h : {&y, &dx, &dw, &db}) res.push_back(h->v);
    }
    if (first.empty()) {
      first = res;
      continue;
    }
    for (std::size_t i = 0; i < res.size(); ++i) CHECK(same_bits(res[i], first[i]));
  }
}

TEST_CASE("conv1d kernels: argument errors name the kernel and the value") {
  Host<float> x(Shape{2, 10, 3}), w(Shape{4, 3, 3}), y(Shape{2, 10, 4}), bad_y(Shape{2, 9, 4}), bias(Shape{5});
  Conv1dArgs a;
  a.padding = 1;
  check_throws_with([&] { be().conv1d_forward(x.t(), w.t(), Tensor{}, bad_y.t(), a); },
                    "conv1d_forward: y is [2, 9, 4], expected length 10");
  check_throws_with([&] { be().conv1d_forward(x.t(), w.t(), bias.t(), y.t(), a); },
                    "conv1d_forward: bias [5] has 5 elements, expected 4");
  Conv1dArgs s0 = a;
  s0.stride = 0;
  check_throws_with([&] { be().conv1d_forward(x.t(), w.t(), Tensor{}, y.t(), s0); }, "stride = 0 must be >= 1");
  Host<float> wt(Shape{3, 4, 3});
  check_throws_with([&] { be().conv1d_forward(x.t(), wt.t(), Tensor{}, y.t(), a); },
                    "conv1d_forward: w is [3, 4, 3], expected [4, 3, 3]");
  Host<std::int32_t> len(Shape{2});
  len.v = {10, 11};
  a.lengths = len.t();
  check_throws_with([&] { be().conv1d_forward(x.t(), w.t(), Tensor{}, y.t(), a); },
                    "conv1d_forward: lengths[1] = 11 is outside [1, 10]");
  Conv1dArgs op;
  op.stride = 2;
  op.output_padding = 2;
  Host<float> yt(Shape{2, 22, 4}), w2(Shape{3, 4, 2});
  check_throws_with([&] { be().conv_transpose1d_forward(x.t(), w2.t(), Tensor{}, yt.t(), op); },
                    "output_padding = 2 must be in [0, max(stride, dilation))");
}
