// The transformer kernels of the CPU backend (attention, token embedding, feature tokens, mean pooling)
// against naive double-precision loops written here, in float32 and float64, with key-padding and
// causal masks and attention dropout; attention's backward also against central finite differences;
// bit-identical results on 1, 2 and 3 threads; argument errors.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "core/error.hpp"
#include "core/philox.hpp"
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
using hpct::test::Host;
using hpct::test::rand_host;
using hpct::test::to_double;
using hpct::test::tol;

using hpct::test::check_throws_with;
using hpct::test::same_bits;

// ---- attention reference ------------------------------------------------------------------------------

struct AttnCase {
  std::int64_t batch, len, heads, dh;
  bool padded, causal;
  double p;
  std::string name() const {
    return hpct::cat("N=", batch, " L=", len, " H=", heads, " Dh=", dh, padded ? " key-padding" : "",
                     causal ? " causal" : "", " p=", p);
  }
};

// Lengths in [1, L] that differ per sequence (the last one full), as an i32 [N] tensor (host memory is
// the synchronous CPU backend's device memory).
Host<std::int32_t> make_lengths(std::int64_t batch, std::int64_t len) {
  Host<std::int32_t> l(Shape{batch});
  for (std::int64_t n = 0; n < batch; ++n)
    l[n] = static_cast<std::int32_t>(n + 1 == batch ? len : 1 + (n * 5 + len / 2) % len);
  return l;
}

struct AttnRef {
  std::vector<double> out, probs, dqkv;
};

// The attention of kernels.hpp written as plain loops in double, straight from the formulas:
//   P = softmax over visible keys of Q K^T / sqrt(Dh), P~ = P keep / (1 - p), out = P~ V;
//   dP~ = dO V^T, dP = dP~ keep / (1 - p), dS = P (dP - rowsum(dP P)), dQ = scale dS K,
//   dK = scale dS^T Q, dV = P~^T dO.
AttnRef attention_ref(const AttnCase& c, const std::vector<double>& qkv, const std::vector<double>& dout,
                      const std::int32_t* lengths, std::uint64_t seed, std::uint64_t stream) {
  const std::int64_t L = c.len, H = c.heads, Dh = c.dh, D = H * Dh;
  const double scale = 1.0 / std::sqrt(double(Dh));
  AttnRef r;
  r.out.assign(static_cast<std::size_t>(c.batch * L * D), 0.0);
  r.probs.assign(static_cast<std::size_t>(c.batch * H * L * L), 0.0);
  r.dqkv.assign(qkv.size(), 0.0);
  std::vector<double> pt(static_cast<std::size_t>(L * L)), dp(static_cast<std::size_t>(L * L));
  for (std::int64_t n = 0; n < c.batch; ++n)
    for (std::int64_t h = 0; h < H; ++h) {
      const auto at = [&](std::int64_t i, std::int64_t part, std::int64_t col) {
        return static_cast<std::size_t>((n * L + i) * 3 * D + part * D + h * Dh + col);
      };
      const auto o_at = [&](std::int64_t i, std::int64_t col) {
        return static_cast<std::size_t>((n * L + i) * D + h * Dh + col);
      };
      const std::int64_t kv = lengths ? lengths[n] : L;
      double* P = r.probs.data() + (n * H + h) * L * L;
      for (std::int64_t i = 0; i < L; ++i) {
        const auto visible = [&](std::int64_t j) { return j < kv && (!c.causal || j <= i); };
        double mx = -1e300;
        std::vector<double> s(static_cast<std::size_t>(L), 0.0);
        for (std::int64_t j = 0; j < L; ++j) {
          if (!visible(j)) continue;
          for (std::int64_t e = 0; e < Dh; ++e) s[j] += qkv[at(i, 0, e)] * qkv[at(j, 1, e)];
          s[j] *= scale;
          mx = std::max(mx, s[j]);
        }
        double sum = 0.0;
        for (std::int64_t j = 0; j < L; ++j)
          if (visible(j)) sum += std::exp(s[j] - mx);
        for (std::int64_t j = 0; j < L; ++j) {
          P[i * L + j] = visible(j) ? std::exp(s[j] - mx) / sum : 0.0;
          const std::uint64_t e = static_cast<std::uint64_t>(((n * H + h) * L + i) * L + j);
          const bool keep = double(hpct::philox_uniform(seed, stream, e)) >= c.p;
          pt[i * L + j] = keep ? P[i * L + j] / (1.0 - c.p) : 0.0;
          double d = 0.0;
          for (std::int64_t col = 0; col < Dh; ++col) d += dout[o_at(i, col)] * qkv[at(j, 2, col)];
          dp[i * L + j] = keep ? d / (1.0 - c.p) : 0.0;
        }
        for (std::int64_t col = 0; col < Dh; ++col)
          for (std::int64_t j = 0; j < L; ++j) r.out[o_at(i, col)] += pt[i * L + j] * qkv[at(j, 2, col)];
      }
      for (std::int64_t i = 0; i < L; ++i) {
        double dot = 0.0;
        for (std::int64_t j = 0; j < L; ++j) dot += P[i * L + j] * dp[i * L + j];
        for (std::int64_t j = 0; j < L; ++j) {
          const double ds = P[i * L + j] * (dp[i * L + j] - dot);
          for (std::int64_t col = 0; col < Dh; ++col) {
            r.dqkv[at(i, 0, col)] += scale * ds * qkv[at(j, 1, col)];
            r.dqkv[at(j, 1, col)] += scale * ds * qkv[at(i, 0, col)];
            r.dqkv[at(j, 2, col)] += pt[i * L + j] * dout[o_at(i, col)];
          }
        }
      }
    }
  return r;
}

struct AttnRun {
  std::vector<double> out, probs, dqkv;
};

template <class T>
struct AttnTensors {
  Host<T> qkv, out, probs, dout, dqkv;
  Host<std::int32_t> lengths{Shape{0}};
  AttentionArgs args;
  AttnTensors(const AttnCase& c, std::uint64_t seed)
      : qkv(rand_host<T>(Shape{c.batch, c.len, 3 * c.heads * c.dh}, seed, -1.5, 1.5)),
        out(Shape{c.batch, c.len, c.heads * c.dh}, T(7)),  // garbage: the kernels overwrite
        probs(Shape{c.batch, c.heads, c.len, c.len}, T(7)),
        dout(rand_host<T>(Shape{c.batch, c.len, c.heads * c.dh}, seed + 1)),
        dqkv(Shape{c.batch, c.len, 3 * c.heads * c.dh}, T(7)) {
    if (c.padded) lengths = make_lengths(c.batch, c.len);
    args.heads = c.heads;
    args.lengths = c.padded ? lengths.t() : Tensor{};
    args.causal = c.causal;
    args.dropout_p = c.p;
    args.seed = 1234;
    args.stream = 99;
  }
  const std::int32_t* lengths_or_null() const { return lengths.v.empty() ? nullptr : lengths.v.data(); }
  void run(Backend& b) {
    b.attention_forward(qkv.t(), out.t(), probs.t(), args);
    b.attention_backward(qkv.t(), out.t(), probs.t(), dout.t(), dqkv.t(), args);
  }
};

std::vector<AttnCase> attention_cases() {
  std::vector<AttnCase> cases;
  for (const bool padded : {false, true})
    for (const bool causal : {false, true})
      for (const double p : {0.0, 0.3}) {
        cases.push_back({3, 7, 2, 5, padded, causal, p});
        cases.push_back({2, 150, 2, 8, padded, causal, p});  // three causal row blocks, the last ragged
      }
  cases.push_back({1, 1, 1, 1, false, true, 0.0});
  cases.push_back({2, 20, 4, 32, true, false, 0.1});  // the tabular shape (19 features + CLS)
  return cases;
}

}  // namespace

// ---- attention --------------------------------------------------------------------------------------------

TEST_CASE_TEMPLATE("attention forward and backward against naive loops (masks, dropout)", T, float, double) {
  for (const AttnCase& c : attention_cases()) {
    CAPTURE(c.name());
    AttnTensors<T> a(c, 5);
    a.run(be());
    const AttnRef ref = attention_ref(c, to_double(a.qkv), to_double(a.dout), a.lengths_or_null(), a.args.seed,
                                      a.args.stream);
    check_close(a.probs.v, ref.probs, tol<T>(2e-5, 1e-12), tol<T>(1e-7, 1e-15), "probs");
    check_close(a.out.v, ref.out, tol<T>(2e-5, 1e-12), tol<T>(2e-6, 1e-14), "out");
    check_close(a.dqkv.v, ref.dqkv, tol<T>(5e-5, 1e-11), tol<T>(5e-6, 1e-13), "dqkv");
    // Masked keys get probability exactly 0, and every row sums to 1.
    const std::int64_t L = c.len;
    bool zeros_exact = true;
    double worst_sum = 0.0;
    for (std::int64_t n = 0; n < c.batch; ++n)
      for (std::int64_t h = 0; h < c.heads; ++h)
        for (std::int64_t i = 0; i < L; ++i) {
          const std::int64_t kv = c.padded ? a.lengths[n] : L;
          double sum = 0.0;
          for (std::int64_t j = 0; j < L; ++j) {
            const T pij = a.probs[((n * c.heads + h) * L + i) * L + j];
            sum += double(pij);
            if ((j >= kv || (c.causal && j > i)) && pij != T(0)) zeros_exact = false;
          }
          worst_sum = std::max(worst_sum, std::abs(sum - 1.0));
        }
    CHECK(zeros_exact);
    CHECK(worst_sum < tol<T>(1e-5, 1e-13));
  }
}

// Scores up to about a thousand: exp overflows float (above 88) and double (above 709) unless the softmax
// subtracts each row's maximum first, so a kernel without that step gives inf / inf = NaN here.
TEST_CASE_TEMPLATE("attention softmax stays finite and exact for scores near a thousand", T, float, double) {
  for (const AttnCase& c : {AttnCase{2, 9, 2, 8, true, true, 0.0}, AttnCase{2, 20, 4, 32, false, false, 0.0}}) {
    CAPTURE(c.name());
    AttnTensors<T> a(c, 11);
    for (auto& v : a.qkv.v) v *= T(24);  // scores of std ~0.75 * 24^2 = 430
    a.run(be());
    const AttnRef ref = attention_ref(c, to_double(a.qkv), to_double(a.dout), a.lengths_or_null(), a.args.seed,
                                      a.args.stream);
    double biggest = 0.0;
    for (std::int64_t i = 0; i < c.len; ++i)
      for (std::int64_t j = 0; j <= i; ++j) {  // |score| of sequence 0, head 0
        double s = 0.0;
        for (std::int64_t e = 0; e < c.dh; ++e)
          s += double(a.qkv[i * 3 * c.heads * c.dh + e]) * double(a.qkv[j * 3 * c.heads * c.dh + c.heads * c.dh + e]);
        biggest = std::max(biggest, std::abs(s) / std::sqrt(double(c.dh)));
      }
    CHECK(biggest > 710.0);
    // Float logits of ~1e3 carry absolute rounding ~1e-4, which the probabilities inherit relatively.
    check_close(a.probs.v, ref.probs, tol<T>(2e-3, 1e-11), tol<T>(1e-6, 1e-15), "probs");
    check_close(a.out.v, ref.out, tol<T>(2e-3, 1e-11), tol<T>(1e-5, 1e-13), "out");
    check_close(a.dqkv.v, ref.dqkv, tol<T>(5e-3, 1e-10), tol<T>(1e-4, 1e-12), "dqkv");
  }
}

TEST_CASE("attention backward matches central finite differences (float64)") {
  for (const bool padded : {false, true})
    for (const bool causal : {false, true})
      for (const double p : {0.0, 0.25}) {
        const AttnCase c{2, 5, 2, 3, padded, causal, p};
        CAPTURE(c.name());
        AttnTensors<double> a(c, 8);
        a.run(be());
        const std::vector<double> analytic = a.dqkv.v;
        // d/dqkv of sum(out * dout), by central differences.
        std::vector<double> numeric(a.qkv.v.size());
        for (std::size_t i = 0; i < a.qkv.v.size(); ++i) {
          const double keep = a.qkv.v[i];
          double f[2];
          for (int s = 0; s < 2; ++s) {
            a.qkv.v[i] = keep + (s ? -1e-6 : 1e-6);
            be().attention_forward(a.qkv.t(), a.out.t(), a.probs.t(), a.args);
            f[s] = 0.0;
            for (std::size_t k = 0; k < a.out.v.size(); ++k) f[s] += a.out.v[k] * a.dout.v[k];
          }
          a.qkv.v[i] = keep;
          numeric[i] = (f[0] - f[1]) / 2e-6;
        }
        check_close(analytic, numeric, 1e-6, 1e-8, "dqkv vs finite differences");
      }
}

TEST_CASE_TEMPLATE("attention dropout: reproducible, keyed by seed and stream, the mask of dropout_forward",
                   T, float, double) {
  const AttnCase c{2, 9, 3, 4, true, true, 0.4};
  AttnTensors<T> a(c, 3), b(c, 3);
  a.run(be());
  b.run(be());
  CHECK(same_bits(a.out.v, b.out.v));
  CHECK(same_bits(a.dqkv.v, b.dqkv.v));
  // probs hold P before dropout: the same as without dropout.
  AttnCase c0 = c;
  c0.p = 0.0;
  AttnTensors<T> nodrop(c0, 3);
  nodrop.run(be());
  CHECK(same_bits(a.probs.v, nodrop.probs.v));
  // out = dropout_forward(P) V with the same seed and stream.
  Host<T> dropped(a.probs.shape);
  be().dropout_forward(a.probs.t(), dropped.t(), c.p, a.args.seed, a.args.stream);
  const std::int64_t L = c.len, H = c.heads, Dh = c.dh, D = H * Dh;
  std::vector<double> ref(a.out.v.size(), 0.0);
  for (std::int64_t n = 0; n < c.batch; ++n)
    for (std::int64_t h = 0; h < H; ++h)
      for (std::int64_t i = 0; i < L; ++i)
        for (std::int64_t e = 0; e < Dh; ++e)
          for (std::int64_t j = 0; j < L; ++j)
            ref[(n * L + i) * D + h * Dh + e] += double(dropped[((n * H + h) * L + i) * L + j]) *
                                                 double(a.qkv[(n * L + j) * 3 * D + 2 * D + h * Dh + e]);
  check_close(a.out.v, ref, tol<T>(1e-5, 1e-13), tol<T>(1e-6, 1e-14), "out vs dropout_forward(probs) V");
  // Another stream or seed: another mask.
  AttnTensors<T> other(c, 3);
  other.args.stream = 100;
  other.run(be());
  CHECK_FALSE(same_bits(a.out.v, other.out.v));
  other.args.stream = a.args.stream;
  other.args.seed = a.args.seed + 1;
  other.run(be());
  CHECK_FALSE(same_bits(a.out.v, other.out.v));
}

// Row keys: P's element (n, h, i, j) draws counter ((row_ids[n] H + h) L + i) L + j, so a batch permuted
// with its row ids (and lengths) gets the permuted outputs and gradients, bit for bit.
TEST_CASE_TEMPLATE("row-keyed attention dropout: a permuted batch gives the permuted results", T, float, double) {
  const AttnCase c{3, 9, 2, 4, true, false, 0.4};
  const std::int64_t N = c.batch, L = c.len, W = 3 * c.heads * c.dh, D = c.heads * c.dh;
  AttnTensors<T> a(c, 7);
  Host<std::int64_t> rows(Shape{N});
  const std::int64_t ids[] = {41, 7, 1000};
  for (std::int64_t n = 0; n < N; ++n) rows[n] = ids[n];
  a.args.row_ids = rows.t();
  a.run(be());
  // The reference: the naive loops' mask at the row-keyed counters is dropout_forward of P with row keys.
  Host<T> dropped(a.probs.shape);
  be().dropout_forward(a.probs.t(), dropped.t(), c.p, a.args.seed, a.args.stream, rows.t());
  std::vector<double> ref(a.out.v.size(), 0.0);
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t h = 0; h < c.heads; ++h)
      for (std::int64_t i = 0; i < L; ++i)
        for (std::int64_t e = 0; e < c.dh; ++e)
          for (std::int64_t j = 0; j < L; ++j)
            ref[(n * L + i) * D + h * c.dh + e] += double(dropped[((n * c.heads + h) * L + i) * L + j]) *
                                                   double(a.qkv[(n * L + j) * W + 2 * D + h * c.dh + e]);
  check_close(a.out.v, ref, tol<T>(1e-5, 1e-13), tol<T>(1e-6, 1e-14), "out vs row-keyed dropout_forward(probs) V");

  // Batch order (2, 0, 1).
  const std::int64_t perm[] = {2, 0, 1};
  AttnTensors<T> b(c, 7);
  Host<std::int64_t> prow(Shape{N});
  for (std::int64_t n = 0; n < N; ++n) {
    prow[n] = rows[perm[n]];
    b.lengths[n] = a.lengths[perm[n]];
    for (std::int64_t q = 0; q < L * W; ++q) b.qkv[n * L * W + q] = a.qkv[perm[n] * L * W + q];
    for (std::int64_t q = 0; q < L * D; ++q) b.dout[n * L * D + q] = a.dout[perm[n] * L * D + q];
  }
  b.args.row_ids = prow.t();
  b.run(be());
  std::int64_t out_errors = 0, grad_errors = 0;
  for (std::int64_t n = 0; n < N; ++n) {
    for (std::int64_t q = 0; q < L * D; ++q) out_errors += b.out[n * L * D + q] != a.out[perm[n] * L * D + q];
    for (std::int64_t q = 0; q < L * W; ++q) grad_errors += b.dqkv[n * L * W + q] != a.dqkv[perm[n] * L * W + q];
  }
  CHECK(out_errors == 0);
  CHECK(grad_errors == 0);

  // Row ids 0 .. N-1: the unkeyed results; other ids: another mask.
  AttnTensors<T> plain(c, 7), iota(c, 7);
  Host<std::int64_t> ident(Shape{N});
  for (std::int64_t n = 0; n < N; ++n) ident[n] = n;
  iota.args.row_ids = ident.t();
  plain.run(be());
  iota.run(be());
  CHECK(same_bits(plain.out.v, iota.out.v));
  CHECK(same_bits(plain.dqkv.v, iota.dqkv.v));
  CHECK_FALSE(same_bits(plain.out.v, a.out.v));
  Host<std::int64_t> two(Shape{2});
  plain.args.row_ids = two.t();
  check_throws_with([&] { plain.run(be()); }, "one id per sequence");
  rows[1] = -3;
  check_throws_with([&] { a.run(be()); }, "row_ids[1] = -3");
}

TEST_CASE_TEMPLATE("attention argument errors name the kernel and the values", T, float, double) {
  Host<T> qkv(Shape{2, 4, 12}), out(Shape{2, 4, 4}), probs(Shape{2, 2, 4, 4}), dqkv(Shape{2, 4, 12});
  AttentionArgs args;
  args.heads = 2;
  be().attention_forward(qkv.t(), out.t(), probs.t(), args);  // fine
  args.heads = 3;
  check_throws_with([&] { be().attention_forward(qkv.t(), out.t(), probs.t(), args); },
                    "attention_forward: d_model 4 is not divisible by heads 3");
  args.heads = 2;
  Host<T> bad_qkv(Shape{2, 4, 13});
  check_throws_with([&] { be().attention_forward(bad_qkv.t(), out.t(), probs.t(), args); },
                    "attention_forward: qkv must be [N, L, 3 D], got [2, 4, 13]");
  Host<T> bad_probs(Shape{2, 2, 4, 5});
  check_throws_with([&] { be().attention_forward(qkv.t(), out.t(), bad_probs.t(), args); },
                    "saved is [2, 2, 4, 5], expected [2, 2, 4, 4]");
  Host<T> bad_out(Shape{2, 4, 5});
  check_throws_with([&] { be().attention_forward(qkv.t(), bad_out.t(), probs.t(), args); },
                    "attention_forward: out is [2, 4, 5], expected [2, 4, 4]");
  check_throws_with([&] { be().attention_backward(qkv.t(), out.t(), probs.t(), bad_out.t(), dqkv.t(), args); },
                    "attention_backward: dout is [2, 4, 5]");
  Host<std::int32_t> lengths(Shape{2});
  lengths.v = {4, 0};
  args.lengths = lengths.t();
  check_throws_with([&] { be().attention_forward(qkv.t(), out.t(), probs.t(), args); },
                    "attention_forward: lengths[1] = 0 is outside [1, 4]");
  lengths[1] = 5;
  check_throws_with([&] { be().attention_backward(qkv.t(), out.t(), probs.t(), out.t(), dqkv.t(), args); },
                    "attention_backward: lengths[1] = 5 is outside [1, 4]");
  Host<std::int32_t> lengths3(Shape{3}, 1);
  args.lengths = lengths3.t();
  check_throws_with([&] { be().attention_forward(qkv.t(), out.t(), probs.t(), args); },
                    "attention_forward: lengths [3] has 3 elements, expected 2");
  Host<std::int64_t> lengths64(Shape{2}, 1);
  args.lengths = lengths64.t();
  check_throws_with([&] { be().attention_forward(qkv.t(), out.t(), probs.t(), args); },
                    "attention_forward: lengths must be int32, got int64");
  args.lengths = Tensor{};
  args.dropout_p = 1.0;
  check_throws_with([&] { be().attention_forward(qkv.t(), out.t(), probs.t(), args); },
                    "dropout probability p = 1 is outside [0, 1)");
  args.dropout_p = 0.0;
  using Other = std::conditional_t<std::is_same_v<T, float>, double, float>;
  Host<Other> other_out(Shape{2, 4, 4});
  check_throws_with([&] { be().attention_forward(qkv.t(), other_out.t(), probs.t(), args); },
                    "attention_forward: dtypes differ");
}

// ---- token embedding ----------------------------------------------------------------------------------

TEST_CASE_TEMPLATE("embedding forward and backward against naive loops", T, float, double) {
  for (const auto& [vocab, width] : {std::pair<std::int64_t, std::int64_t>{5, 3}, {300, 200}}) {
    const auto width_ = width;  // CAPTURE's lambda cannot capture a structured binding (clang 14)
    CAPTURE(width_);
    const std::int64_t batch = 4, len = 33;
    Host<std::int32_t> ids(Shape{batch, len});
    for (std::int64_t i = 0; i < batch * len; ++i) ids[i] = static_cast<std::int32_t>((i * 7 + i / 5) % vocab);
    ids[3] = ids[4] = ids[40] = 1;  // repeated ids accumulate
    auto table = rand_host<T>(Shape{vocab, width}, 1);
    Host<T> out(Shape{batch, len, width}, T(3));
    be().embedding_forward(ids.t(), table.t(), out.t());
    std::vector<double> ref(out.v.size());
    for (std::int64_t p = 0; p < batch * len; ++p)
      for (std::int64_t c = 0; c < width; ++c) ref[p * width + c] = double(table[ids[p] * width + c]);
    check_close(out.v, ref, 0.0, 1e-300, "out");  // exact copies

    auto dout = rand_host<T>(out.shape, 2);
    auto dtable = rand_host<T>(table.shape, 3);  // accumulates into what is there
    std::vector<double> ref_dt = to_double(dtable);
    for (std::int64_t p = 0; p < batch * len; ++p)
      for (std::int64_t c = 0; c < width; ++c) ref_dt[ids[p] * width + c] += double(dout[p * width + c]);
    be().embedding_backward(ids.t(), dout.t(), dtable.t());
    check_close(dtable.v, ref_dt, tol<T>(1e-6, 1e-14), tol<T>(1e-6, 1e-14), "dtable");
  }
}

TEST_CASE_TEMPLATE("embedding errors name the position and value of a bad id", T, float, double) {
  Host<std::int32_t> ids(Shape{2, 3});
  auto table = rand_host<T>(Shape{5, 4}, 1);
  Host<T> out(Shape{2, 3, 4});
  ids[4] = 5;
  check_throws_with([&] { be().embedding_forward(ids.t(), table.t(), out.t()); },
                    "embedding_forward: ids[1, 1] = 5 is outside [0, 5)");
  ids[4] = 0;
  ids[2] = -1;
  check_throws_with([&] { be().embedding_backward(ids.t(), out.t(), table.t()); },
                    "embedding_backward: ids[0, 2] = -1 is outside [0, 5)");
  ids[2] = 0;
  Host<T> bad_out(Shape{2, 3, 5});
  check_throws_with([&] { be().embedding_forward(ids.t(), table.t(), bad_out.t()); },
                    "embedding_forward: out is [2, 3, 5], expected ids [2, 3] by 4");
  Host<T> fids(Shape{2, 3});
  check_throws_with([&] { be().embedding_forward(fids.t(), table.t(), out.t()); }, "ids must be int32");
}

// ---- feature tokens ---------------------------------------------------------------------------------------

TEST_CASE_TEMPLATE("feature tokens forward and backward against naive loops", T, float, double) {
  for (const auto& [batch, features, width] : {std::tuple<std::int64_t, std::int64_t, std::int64_t>{3, 2, 5},
                                               {64, 7, 96}}) {
    const auto width_ = width;  // CAPTURE's lambda cannot capture a structured binding (clang 14)
    CAPTURE(width_);
    auto x = rand_host<T>(Shape{batch, features}, 1, -2.0, 2.0);
    auto w = rand_host<T>(Shape{features, width}, 2);
    auto b = rand_host<T>(Shape{features, width}, 3);
    Host<T> out(Shape{batch, features, width}, T(9));
    be().feature_tokens_forward(x.t(), w.t(), b.t(), out.t());
    std::vector<double> ref(out.v.size());
    for (std::int64_t n = 0; n < batch; ++n)
      for (std::int64_t f = 0; f < features; ++f)
        for (std::int64_t c = 0; c < width; ++c)
          ref[(n * features + f) * width + c] =
              double(x[n * features + f]) * double(w[f * width + c]) + double(b[f * width + c]);
    check_close(out.v, ref, tol<T>(1e-6, 1e-15), tol<T>(1e-6, 1e-15), "out");

    auto dout = rand_host<T>(out.shape, 4);
    Host<T> dx(x.shape, T(9));
    auto dw = rand_host<T>(w.shape, 5), db = rand_host<T>(b.shape, 6);
    std::vector<double> ref_dx(dx.v.size(), 0.0), ref_dw = to_double(dw), ref_db = to_double(db);
    for (std::int64_t n = 0; n < batch; ++n)
      for (std::int64_t f = 0; f < features; ++f)
        for (std::int64_t c = 0; c < width; ++c) {
          const double g = double(dout[(n * features + f) * width + c]);
          ref_dx[n * features + f] += g * double(w[f * width + c]);
          ref_dw[f * width + c] += g * double(x[n * features + f]);
          ref_db[f * width + c] += g;
        }
    be().feature_tokens_backward(x.t(), w.t(), dout.t(), dx.t(), dw.t(), db.t());
    check_close(dx.v, ref_dx, tol<T>(1e-5, 1e-13), tol<T>(1e-5, 1e-13), "dx");
    check_close(dw.v, ref_dw, tol<T>(1e-5, 1e-13), tol<T>(1e-5, 1e-13), "dw");
    check_close(db.v, ref_db, tol<T>(1e-5, 1e-13), tol<T>(1e-5, 1e-13), "db");
    // Without dx: the same parameter gradients.
    auto dw2 = rand_host<T>(w.shape, 5), db2 = rand_host<T>(b.shape, 6);
    be().feature_tokens_backward(x.t(), w.t(), dout.t(), Tensor{}, dw2.t(), db2.t());
    CHECK(same_bits(dw2.v, dw.v));
    CHECK(same_bits(db2.v, db.v));
  }
  Host<T> x(Shape{3, 2}), w(Shape{2, 5}), b(Shape{2, 5}), bad_b(Shape{2, 4}), bad_out(Shape{3, 2, 4}), w3(Shape{3, 5});
  Host<T> out(Shape{3, 2, 5});
  check_throws_with([&] { be().feature_tokens_forward(x.t(), w.t(), bad_b.t(), out.t()); },
                    "feature_tokens_forward: shapes differ: w is [2, 5], b is [2, 4]");
  check_throws_with([&] { be().feature_tokens_forward(x.t(), w.t(), b.t(), bad_out.t()); },
                    "feature_tokens_forward: out is [3, 2, 4], expected [3, 2, 5]");
  check_throws_with([&] { be().feature_tokens_forward(x.t(), w3.t(), b.t(), out.t()); },
                    "w is [3, 5], expected [2, D]");
}

// ---- mean pooling -----------------------------------------------------------------------------------------

TEST_CASE_TEMPLATE("mean pooling forward and backward with and without lengths", T, float, double) {
  const std::int64_t batch = 5, len = 6, width = 70;  // two column chunks
  auto x = rand_host<T>(Shape{batch, len, width}, 1);
  for (const bool padded : {false, true}) {
    CAPTURE(padded);
    Host<std::int32_t> lengths = make_lengths(batch, len);
    const std::int32_t* lp = padded ? lengths.v.data() : nullptr;
    const Tensor lt = padded ? lengths.t() : Tensor{};
    Host<T> out(Shape{batch, width}, T(9));
    be().mean_pool_forward(x.t(), lt, out.t());
    auto dout = rand_host<T>(out.shape, 2);
    Host<T> dx(x.shape, T(9));
    be().mean_pool_backward(dout.t(), lt, dx.t());
    std::vector<double> ref(out.v.size(), 0.0), ref_dx(dx.v.size(), 0.0);
    for (std::int64_t n = 0; n < batch; ++n) {
      const std::int64_t valid = lp ? lp[n] : len;
      for (std::int64_t l = 0; l < valid; ++l)
        for (std::int64_t c = 0; c < width; ++c) {
          ref[n * width + c] += double(x[(n * len + l) * width + c]) / double(valid);
          ref_dx[(n * len + l) * width + c] = double(dout[n * width + c]) / double(valid);
        }
    }
    check_close(out.v, ref, tol<T>(1e-6, 1e-14), tol<T>(1e-7, 1e-15), "out");
    check_close(dx.v, ref_dx, tol<T>(1e-6, 1e-15), 1e-300, "dx");
  }
  Host<std::int32_t> bad(Shape{5});
  bad.v = {1, 2, 7, 1, 1};
  Host<T> out(Shape{batch, width}), bad_out(Shape{batch, width + 1});
  check_throws_with([&] { be().mean_pool_forward(x.t(), bad.t(), out.t()); },
                    "mean_pool_forward: lengths[2] = 7 is outside [1, 6]");
  check_throws_with([&] { be().mean_pool_backward(out.t(), bad.t(), x.t()); },
                    "mean_pool_backward: lengths[2] = 7");
  check_throws_with([&] { be().mean_pool_forward(x.t(), Tensor{}, bad_out.t()); },
                    "mean_pool_forward: out is [5, 71], expected [5, 70]");
}

// ---- determinism ------------------------------------------------------------------------------------------

TEST_CASE_TEMPLATE("transformer kernels give the same bits on 1, 2 and 3 threads", T, float, double) {
  std::vector<std::vector<T>> first;
  for (const int threads : {1, 2, 3}) {
    CAPTURE(threads);
    auto b = make_cpu_backend(threads);
    std::vector<std::vector<T>> results;
    for (const AttnCase& c : {AttnCase{3, 70, 2, 8, true, true, 0.2}, AttnCase{4, 9, 2, 4, true, false, 0.0}}) {
      AttnTensors<T> a(c, 1);
      a.run(*b);
      results.push_back(a.out.v);
      results.push_back(a.probs.v);
      results.push_back(a.dqkv.v);
    }
    // Embedding: 300 positions x 200 columns (several column blocks).
    Host<std::int32_t> ids(Shape{10, 30});
    for (std::int64_t i = 0; i < 300; ++i) ids[i] = static_cast<std::int32_t>((i * 13) % 17);
    auto table = rand_host<T>(Shape{17, 200}, 2);
    Host<T> emb(Shape{10, 30, 200});
    b->embedding_forward(ids.t(), table.t(), emb.t());
    auto demb = rand_host<T>(emb.shape, 3);
    auto dtable = rand_host<T>(table.shape, 4);
    b->embedding_backward(ids.t(), demb.t(), dtable.t());
    results.push_back(emb.v);
    results.push_back(dtable.v);
    // Feature tokens: 64 samples, 5 features of 96.
    auto x = rand_host<T>(Shape{64, 5}, 5);
    auto w = rand_host<T>(Shape{5, 96}, 6), bias = rand_host<T>(Shape{5, 96}, 7);
    Host<T> tok(Shape{64, 5, 96}), dx(x.shape);
    b->feature_tokens_forward(x.t(), w.t(), bias.t(), tok.t());
    auto dtok = rand_host<T>(tok.shape, 8);
    auto dw = rand_host<T>(w.shape, 9), db = rand_host<T>(w.shape, 10);
    b->feature_tokens_backward(x.t(), w.t(), dtok.t(), dx.t(), dw.t(), db.t());
    for (auto* h : {&tok, &dx, &dw, &db}) results.push_back(h->v);
    // Mean pooling: 150 sequences (several blocks).
    auto seq = rand_host<T>(Shape{150, 10, 50}, 11);
    Host<std::int32_t> lengths = make_lengths(150, 10);
    Host<T> pooled(Shape{150, 50}), dseq(seq.shape);
    b->mean_pool_forward(seq.t(), lengths.t(), pooled.t());
    b->mean_pool_backward(pooled.t(), lengths.t(), dseq.t());
    results.push_back(pooled.v);
    results.push_back(dseq.v);

    if (first.empty()) {
      first = results;
      continue;
    }
    REQUIRE(results.size() == first.size());
    for (std::size_t i = 0; i < results.size(); ++i) {
      CAPTURE(i);
      CHECK(same_bits(results[i], first[i]));
    }
  }
}

// ---- 16-bit storage ---------------------------------------------------------------------------------------
// bf16 and f16 tensors run the f32 kernels on widened copies and store rounded outputs: exactly
// round(the f32 kernel on the same values), within half_tolerance (bf16 2^-6, f16 2^-9 of the output's
// largest magnitude) of f32 on unrounded inputs. Attention keeps its probabilities in f32
// (attention_saved_dtype), so the backward reads them unrounded.
TEST_CASE_TEMPLATE("transformer kernels in bf16 and f16 against f32", H, hpct::bf16, hpct::f16) {
  using hpct::test::check_half_against_f32;
  using hpct::test::input;
  using hpct::test::Outputs;
  CHECK(be().attention_saved_dtype(Shape{1, 1, 3}, hpct::dtype_of<H>(), AttentionArgs{}) == DType::f32);
  for (const AttnCase& c : {AttnCase{3, 70, 2, 8, true, true, 0.2}, AttnCase{2, 20, 4, 32, true, false, 0.0}}) {
    CAPTURE(c.name());
    const AttnTensors<float> a32(c, 4);
    check_half_against_f32<H>([&](auto t, auto in) {
      using T = decltype(t);
      using In = decltype(in);
      auto qkv = input<T, In>(a32.qkv), dout = input<T, In>(a32.dout);
      Host<T> out(a32.out.shape), dqkv(a32.dqkv.shape);
      Host<float> saved(a32.probs.shape);
      be().attention_forward(qkv.t(), out.t(), saved.t(), a32.args);
      be().attention_backward(qkv.t(), out.t(), saved.t(), dout.t(), dqkv.t(), a32.args);
      return Outputs{{to_double(out), to_double(dqkv)}, {to_double(saved)}};
    }, "attention");
  }
  Host<std::int32_t> ids(Shape{6, 20});
  for (std::int64_t i = 0; i < ids.n(); ++i) ids[i] = static_cast<std::int32_t>((i * 7) % 13);
  const auto table32 = rand_host<float>(Shape{13, 40}, 5), dout32 = rand_host<float>(Shape{6, 20, 40}, 6);
  const auto x32 = rand_host<float>(Shape{6, 20}, 7), w32 = rand_host<float>(Shape{20, 40}, 8);
  const auto b32 = rand_host<float>(Shape{20, 40}, 9);
  const Host<std::int32_t> lengths = make_lengths(6, 20);
  check_half_against_f32<H>([&](auto t, auto in) {
    using T = decltype(t);
    using In = decltype(in);
    auto table = input<T, In>(table32), dtable = input<T, In>(table32), dout = input<T, In>(dout32);
    auto x = input<T, In>(x32), w = input<T, In>(w32), b = input<T, In>(b32);
    Host<T> emb(dout32.shape), tok(dout32.shape), dx(x32.shape), pooled(Shape{6, 40}), dseq(dout32.shape);
    auto dw = input<T, In>(w32), db = input<T, In>(w32);
    be().embedding_forward(ids.t(), table.t(), emb.t());
    be().embedding_backward(ids.t(), dout.t(), dtable.t());
    be().feature_tokens_forward(x.t(), w.t(), b.t(), tok.t());
    be().feature_tokens_backward(x.t(), w.t(), dout.t(), dx.t(), dw.t(), db.t());
    Host<std::int32_t> lt = lengths;
    be().mean_pool_forward(dout.t(), lt.t(), pooled.t());
    be().mean_pool_backward(input<T, In>(pooled).t(), lt.t(), dseq.t());
    return Outputs{{to_double(emb), to_double(dtable), to_double(tok), to_double(dx), to_double(dw), to_double(db),
                    to_double(pooled), to_double(dseq)},
                   {}};
  }, "embedding, feature tokens, mean pooling");
}
