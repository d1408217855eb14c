// Backend's public, non-virtual methods: each validates its arguments once (shapes, dtypes, devices;
// kernels/validate.hpp) and calls the backend's *_impl. Also the host reads, the host-sync counter
// and the backend factory.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <thread>

#include "core/error.hpp"
#include "kernels/kernels.hpp"
#include "kernels/validate.hpp"

namespace hpct::kernels {
namespace {

using validate::Checker;
using validate::matrix_rows;

void check_probability(const Checker& c, const char* what, double p) {
  HPCT_CHECK(p >= 0.0 && p < 1.0, c.k, ": ", what, " p = ", p, " is outside [0, 1)");
}

// in and out of one float dtype and shape, row keys for in's elements (dropout).
void check_dropout(const Checker& c, const Tensor& in, const char* in_name, const Tensor& out, const char* out_name,
                   double p, const Tensor& row_ids) {
  c.floating(in_name, in);
  c.like(in_name, in, out_name, out);
  check_probability(c, "drop probability", p);
  c.row_ids(row_ids, in.numel());
}

// seq [N, L, D] and pooled [N, D] of one float dtype, lengths empty or i32 [N].
void check_pool(const Checker& c, const Tensor& seq, const char* seq_name, const Tensor& pooled,
                const char* pooled_name, const Tensor& lengths) {
  c.floating(seq_name, seq);
  HPCT_CHECK(seq.rank() == 3, c.k, ": ", seq_name, " must be [N, L, D], got ", seq.shape.str());
  c.floating(pooled_name, pooled);
  c.same_dtype(seq_name, seq, pooled_name, pooled);
  HPCT_CHECK(pooled.shape == Shape({seq.dim(0), seq.dim(2)}), c.k, ": ", pooled_name, " is ", pooled.shape.str(),
             ", expected [", seq.dim(0), ", ", seq.dim(2), "] for ", seq_name, " ", seq.shape.str());
  c.lengths(lengths, seq.dim(0));
}

// The shapes of one convolution: x [N, Lx, Cx], y [N, Ly, Cy], w [Cy, Cx, K] for a conv (w [Cx', Cy', K]
// = [Ci, Co, K] for a transposed conv, whose input is x_op and output y_op); bias / dbias [Co] or
// empty; args' sizes in range and Ly from the formula. Returns the geometry the kernels take.
Conv1dGeom check_conv(const Checker& c, bool transposed, const Tensor& x_op, const char* x_name,
                      const Tensor& y_op, const char* y_name, const Tensor& w, const char* w_name,
                      const Tensor& bias, const char* bias_name, const Conv1dArgs& a) {
  c.floating(x_name, x_op);
  c.floating(y_name, y_op);
  c.floating(w_name, w);
  c.same_dtype(x_name, x_op, y_name, y_op);
  c.same_dtype(x_name, x_op, w_name, w);
  HPCT_CHECK(x_op.rank() == 3, c.k, ": ", x_name, " must be [N, L, C], got ", x_op.shape.str());
  HPCT_CHECK(y_op.rank() == 3, c.k, ": ", y_name, " must be [N, L, C], got ", y_op.shape.str());
  HPCT_CHECK(w.rank() == 3, c.k, ": ", w_name, " must be ", transposed ? "[Cin, Cout, K]" : "[Cout, Cin, K]",
             ", got ", w.shape.str());
  HPCT_CHECK(x_op.dim(0) == y_op.dim(0), c.k, ": batch sizes differ: ", x_name, " ", x_op.shape.str(), ", ", y_name,
             " ", y_op.shape.str());
  HPCT_CHECK(a.stride >= 1, c.k, ": stride = ", a.stride, " must be >= 1");
  HPCT_CHECK(a.dilation >= 1, c.k, ": dilation = ", a.dilation, " must be >= 1");
  HPCT_CHECK(a.padding >= 0, c.k, ": padding = ", a.padding, " must be >= 0");
  const std::int64_t ci = x_op.dim(2), co = y_op.dim(2), kk = w.dim(2), li = x_op.dim(1);
  HPCT_CHECK(kk >= 1, c.k, ": kernel size must be >= 1, got ", w_name, " ", w.shape.str());
  const Shape want_w = transposed ? Shape({ci, co, kk}) : Shape({co, ci, kk});
  HPCT_CHECK(w.shape == want_w, c.k, ": ", w_name, " is ", w.shape.str(), ", expected ", want_w.str(), " for ",
             x_name, " ", x_op.shape.str(), " and ", y_name, " ", y_op.shape.str());
  std::int64_t lo = 0;
  if (transposed) {
    HPCT_CHECK(a.output_padding >= 0 && a.output_padding < std::max(a.stride, a.dilation), c.k,
               ": output_padding = ", a.output_padding, " must be in [0, max(stride, dilation))");
    lo = (li - 1) * a.stride - 2 * a.padding + a.dilation * (kk - 1) + a.output_padding + 1;
  } else {
    HPCT_CHECK(a.output_padding == 0, c.k, ": output_padding = ", a.output_padding, " is for transposed convs only");
    lo = (li + 2 * a.padding - a.dilation * (kk - 1) - 1) / a.stride + 1;
    HPCT_CHECK(li + 2 * a.padding - a.dilation * (kk - 1) - 1 >= 0, c.k, ": ", x_name, " ", x_op.shape.str(),
               " is shorter than the kernel's reach ", a.dilation * (kk - 1) + 1, " with padding ", a.padding);
  }
  HPCT_CHECK(lo >= 1 && y_op.dim(1) == lo, c.k, ": ", y_name, " is ", y_op.shape.str(), ", expected length ", lo,
             " for ", x_name, " ", x_op.shape.str(), ", kernel ", kk, ", stride ", a.stride, ", padding ", a.padding,
             ", dilation ", a.dilation);
  if (!bias.empty()) c.vector(w_name, w, bias_name, bias, co, "output channels");
  c.lengths(a.lengths, x_op.dim(0));
  return Conv1dGeom{a.stride, a.padding, a.dilation, a.lengths, transposed};
}

// ids i32 (any shape); table [V, D]; rows [P, D] of table's dtype (out or dout), P the positions of ids.
void check_embedding(const Checker& c, const Tensor& ids, const Tensor& table, const char* table_name,
                     const Tensor& rows, const char* rows_name) {
  c.typed("ids", ids, DType::i32);
  c.floating(table_name, table);
  HPCT_CHECK(table.rank() == 2, c.k, ": ", table_name, " must be [V, D], got ", table.shape.str());
  c.floating(rows_name, rows);
  c.same_dtype(table_name, table, rows_name, rows);
  const std::int64_t width = table.dim(1);
  HPCT_CHECK(rows.cols() == width && rows.numel() == ids.numel() * width, c.k, ": ", rows_name, " is ",
             rows.shape.str(), ", expected ids ", ids.shape.str(), " by ", width, " (", table_name, " ",
             table.shape.str(), ")");
}

// x [N, F], w and b [F, D], tokens [N, F, D] (out or dout).
void check_feature_tokens(const Checker& c, const Tensor& x, const Tensor& w, const Tensor& b, const char* b_name,
                          const Tensor& tokens, const char* tokens_name) {
  c.floating("x", x);
  HPCT_CHECK(x.rank() == 2, c.k, ": x must be [N, F], got ", x.shape.str());
  c.floating("w", w);
  c.same_dtype("x", x, "w", w);
  HPCT_CHECK(w.rank() == 2 && w.dim(0) == x.dim(1), c.k, ": w is ", w.shape.str(), ", expected [", x.dim(1),
             ", D] for x ", x.shape.str());
  c.like("w", w, b_name, b);
  c.floating(tokens_name, tokens);
  c.same_dtype("x", x, tokens_name, tokens);
  HPCT_CHECK(tokens.shape == Shape({x.dim(0), x.dim(1), w.dim(1)}), c.k, ": ", tokens_name, " is ",
             tokens.shape.str(), ", expected [", x.dim(0), ", ", x.dim(1), ", ", w.dim(1), "]");
}

// The optional scalars of a loss and its accumulator.
void check_loss_scalars(const Checker& c, const LossArgs& args, const Tensor& acc) {
  c.typed_numel("acc", acc, DType::f64, 2);
  if (!args.grad_multiplier.empty()) c.typed_numel("grad_multiplier", args.grad_multiplier, DType::f64, 1);
}

void check_control(const Checker& c, const Tensor& control) {
  c.typed_numel("control", control, DType::f64, StepControl::kSize);
}

// The optimizer tensors every step shares: params (float), grads like them, master (16-bit params
// only), each state tensor (master_dtype, params' element count), the control scalars.
void check_optimizer(const Checker& c, const Tensor& params, const Tensor& master, const Tensor& grads,
                     std::initializer_list<std::pair<const char*, const Tensor*>> state, const Tensor& control) {
  c.floating("params", params);
  c.flat_like("params", params, "grads", grads);
  const DType md = master_dtype(params.dtype);
  const auto check_state = [&](const char* what, const Tensor& t) {
    c.typed(what, t, md);
    c.same_numel("params", params, what, t);
  };
  if (is_half(params.dtype)) {
    HPCT_CHECK(!master.empty() || params.numel() == 0, c.k, ": ", name_of(params.dtype),
               " params need master weights (", name_of(md), "), got an empty tensor");
    check_state("master", master);
  } else {
    HPCT_CHECK(master.empty(), c.k, ": master must be empty for ", name_of(params.dtype),
               " params (the update is applied to them), got ", master.shape.str());
  }
  for (const auto& [what, t] : state) check_state(what, *t);
  check_control(c, control);
}

}  // namespace

// ---- streams, host reads, the sync counter ---------------------------------------------------------

void Backend::throttle(Event& e) {
  if (e.query()) return;
  const std::int64_t syncs = host_syncs_;
  e.synchronize();
  host_syncs_ = syncs;
  ++throttle_waits_;
}

void Backend::count_host_sync() {
  if (std::this_thread::get_id() == owner_) ++host_syncs_;
}

bool Backend::on_device(const Tensor& t) const { return t.device == device(); }

// The probabilities P [N, H, L, L], in stats_dtype: 16-bit qkv keeps them unrounded for backward.
Shape Backend::attention_saved_shape(const Shape& qkv, DType, const AttentionArgs& args) const {
  return Shape{qkv[0], args.heads, qkv[1], qkv[1]};
}
DType Backend::attention_saved_dtype(const Shape&, DType dtype, const AttentionArgs&) const {
  return stats_dtype(dtype);
}

// One host wait: the copy is enqueued, then the stream's synchronize counts the wait.
void Backend::read_to_host(const Tensor& src, const Tensor& dst_host) {
  const Checker c{"read_to_host", device()};
  HPCT_CHECK(dst_host.device.host_accessible(), c.k, ": the destination is on ", dst_host.device.str(),
             ", not host memory");
  c.has_data("dst", dst_host);
  HPCT_CHECK(on_device(src) || src.device.host_accessible(), c.k, ": src is on ", src.device.str(), ", the ",
             device().str(), " backend reads its own memory or host memory");
  c.has_data("src", src);
  c.same_dtype("dst", dst_host, "src", src);
  c.same_numel("dst", dst_host, "src", src);
  copy_impl(dst_host, src);
  stream().synchronize();
}

// ---- memory -----------------------------------------------------------------------------------------

void Backend::copy(const Tensor& dst, const Tensor& src) {
  const Checker c{"copy", device()};
  for (const auto& [what, t] : {std::pair<const char*, const Tensor*>{"dst", &dst}, {"src", &src}}) {
    HPCT_CHECK(on_device(*t) || t->device.host_accessible(), c.k, ": ", what, " is on ", t->device.str(), ", the ",
               device().str(), " backend copies its own memory or host memory");
    c.has_data(what, *t);
  }
  c.same_dtype("dst", dst, "src", src);
  c.same_numel("dst", dst, "src", src);
  if (dst.data != src.data && dst.numel() > 0) {
    const auto di = reinterpret_cast<std::uintptr_t>(dst.data), si = reinterpret_cast<std::uintptr_t>(src.data);
    const auto nb = static_cast<std::uintptr_t>(dst.bytes());
    HPCT_CHECK(di + nb <= si || si + nb <= di, c.k, ": dst and src overlap");
  }
  copy_impl(dst, src);
}

void Backend::fill(const Tensor& t, double value) {
  const Checker c{"fill", device()};
  c.on_device("tensor", t);
  if (t.dtype == DType::i32)
    HPCT_CHECK(value >= INT32_MIN && value <= INT32_MAX, c.k, ": value ", value, " does not fit int32");
  if (t.dtype == DType::i64)
    HPCT_CHECK(value >= -9223372036854775808.0 && value < 9223372036854775808.0, c.k, ": value ", value,
               " does not fit int64");
  fill_impl(t, value);
}

void Backend::cast(const Tensor& src, const Tensor& dst) {
  const Checker c{"cast", device()};
  c.floating("src", src);
  c.floating("dst", dst);
  c.same_numel("src", src, "dst", dst);
  cast_impl(src, dst);
}

void Backend::gather_rows(const Tensor& src, const Tensor& index, const Tensor& out) {
  const Checker c{"gather_rows", device()};
  c.on_device("src", src);
  c.on_device("out", out);
  c.same_dtype("src", src, "out", out);
  c.typed("index", index, DType::i64);
  const std::int64_t n = index.numel();
  HPCT_CHECK(out.rows() == n && out.cols() == src.cols(), c.k, ": out is ", out.shape.str(), ", expected ", n,
             " rows of ", src.cols(), " (src is ", src.shape.str(), ", index ", index.shape.str(), ")");
  gather_rows_impl(src, index, out);
}

// ---- dense algebra ----------------------------------------------------------------------------------

namespace {

void check_gemm(const Checker& c, const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, const Tensor& cm,
                const Tensor* bias, const Tensor* y) {
  c.floating("A", a);
  c.floating("B", b);
  c.floating("C", cm);
  c.same_dtype("A", a, "B", b);
  c.same_dtype("A", a, "C", cm);
  const std::int64_t a_rows = matrix_rows(a), b_rows = matrix_rows(b), c_rows = matrix_rows(cm);
  const std::int64_t m = trans_a ? a.cols() : a_rows, ka = trans_a ? a_rows : a.cols();
  const std::int64_t kb = trans_b ? b.cols() : b_rows, n = trans_b ? b_rows : b.cols();
  HPCT_CHECK(ka == kb, c.k, ": inner dimensions differ: op(A) is [", m, ", ", ka, "], op(B) is [", kb, ", ", n, "]");
  HPCT_CHECK(c_rows == m && cm.cols() == n, c.k, ": C is ", cm.shape.str(), " (", c_rows, " x ", cm.cols(),
             "), but op(A) op(B) is [", m, ", ", n, "]");
  if (bias) c.vector("C", cm, "bias", *bias, n, "the columns");
  if (y) {
    c.like("C", cm, "y", *y);
    HPCT_CHECK(y->data != cm.data, c.k, ": y must not alias C (C keeps the activation's input)");
  }
  for (const std::int64_t d : {a_rows, a.cols(), b_rows, b.cols(), c_rows, cm.cols()})
    HPCT_CHECK(d <= INT_MAX, c.k, ": dimension ", d, " exceeds the BLAS integer range");
}

}  // namespace

void Backend::gemm(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, const Tensor& c, double alpha,
                   double beta) {
  check_gemm({"gemm", device()}, a, trans_a, b, trans_b, c, nullptr, nullptr);
  gemm_impl(a, trans_a, b, trans_b, c, alpha, beta, {});
}

void Backend::gemm_bias(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, const Tensor& bias,
                        const Tensor& c) {
  check_gemm({"gemm_bias", device()}, a, trans_a, b, trans_b, c, &bias, nullptr);
  gemm_impl(a, trans_a, b, trans_b, c, 1.0, 0.0, {&bias});
}

void Backend::gemm_bias_act(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, const Tensor& bias,
                            Activation f, const Tensor& c, const Tensor& y) {
  check_gemm({"gemm_bias_act", device()}, a, trans_a, b, trans_b, c, &bias, &y);
  gemm_impl(a, trans_a, b, trans_b, c, 1.0, 0.0, {&bias, f, &y});
}

void Backend::bias_add(const Tensor& y, const Tensor& bias) {
  const Checker c{"bias_add", device()};
  c.floating("y", y);
  c.vector("y", y, "bias", bias, y.cols(), "the columns");
  bias_add_impl(y, bias);
}

void Backend::bias_grad(const Tensor& dy, const Tensor& dbias) {
  const Checker c{"bias_grad", device()};
  c.floating("dy", dy);
  c.vector("dy", dy, "dbias", dbias, dy.cols(), "the columns");
  bias_grad_impl(dy, dbias);
}

void Backend::axpy(double alpha, const Tensor& x, const Tensor& y) {
  const Checker c{"axpy", device()};
  c.floating("x", x);
  c.like("x", x, "y", y);
  axpy_impl(alpha, x, y);
}

void Backend::scale(const Tensor& x, double alpha) {
  const Checker c{"scale", device()};
  c.floating("x", x);
  scale_impl(x, alpha);
}

void Backend::sum_squares(const Tensor& x, const Tensor& out) {
  const Checker c{"sum_squares", device()};
  c.floating("x", x);
  c.typed_numel("out", out, DType::f64, 1);
  sum_squares_impl(x, out);
}

void Backend::checksum(const Tensor& x, const Tensor& out) {
  const Checker c{"checksum", device()};
  c.on_device("x", x);
  c.has_data("x", x);
  c.typed_numel("out", out, DType::i64, 1);
  checksum_impl(x, out);
}

// ---- elementwise ------------------------------------------------------------------------------------

void Backend::activation_forward(Activation f, const Tensor& x, const Tensor& y) {
  const Checker c{"activation_forward", device()};
  c.floating("x", x);
  c.like("x", x, "y", y);
  activation_forward_impl(f, x, y);
}

void Backend::activation_backward(Activation f, const Tensor& x, const Tensor& dy, const Tensor& dx) {
  const Checker c{"activation_backward", device()};
  c.floating("x", x);
  c.like("x", x, "dy", dy);
  c.like("x", x, "dx", dx);
  activation_backward_impl(f, x, dy, dx);
}

void Backend::activation_bias_grad(Activation f, const Tensor& x, const Tensor& dy, const Tensor& dx,
                                   const Tensor& dbias) {
  const Checker c{"activation_bias_grad", device()};
  c.floating("x", x);
  c.like("x", x, "dy", dy);
  c.like("x", x, "dx", dx);
  c.vector("dx", dx, "dbias", dbias, x.cols(), "the columns");
  activation_bias_grad_impl(f, x, dy, dx, dbias);
}

void Backend::dropout_forward(const Tensor& x, const Tensor& y, double p, std::uint64_t seed, std::uint64_t stream,
                              const Tensor& row_ids) {
  check_dropout({"dropout_forward", device()}, x, "x", y, "y", p, row_ids);
  dropout_forward_impl(x, y, p, seed, stream, row_ids);
}

void Backend::dropout_backward(const Tensor& dy, const Tensor& dx, double p, std::uint64_t seed,
                               std::uint64_t stream, const Tensor& row_ids) {
  check_dropout({"dropout_backward", device()}, dy, "dy", dx, "dx", p, row_ids);
  dropout_backward_impl(dy, dx, p, seed, stream, row_ids);
}

// ---- normalisation ----------------------------------------------------------------------------------

void Backend::layernorm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& y,
                                const Tensor& mean, const Tensor& rstd, double eps) {
  const Checker c{"layernorm_forward", device()};
  c.floating("x", x);
  const std::int64_t rows = x.rows(), cols = x.cols();
  c.vector("x", x, "gamma", gamma, cols, "the columns");
  c.vector("x", x, "beta", beta, cols, "the columns");
  c.like("x", x, "y", y);
  c.vector_of("x", x, "mean", mean, stats_dtype(x.dtype), rows, "the rows");
  c.vector_of("x", x, "rstd", rstd, stats_dtype(x.dtype), rows, "the rows");
  HPCT_CHECK(eps >= 0.0, c.k, ": eps = ", eps, " is negative");
  layernorm_forward_impl(x, gamma, beta, y, mean, rstd, eps);
}

void Backend::layernorm_backward(const Tensor& x, const Tensor& gamma, const Tensor& mean, const Tensor& rstd,
                                 const Tensor& dy, const Tensor& dx, const Tensor& dgamma, const Tensor& dbeta) {
  const Checker c{"layernorm_backward", device()};
  c.floating("x", x);
  const std::int64_t rows = x.rows(), cols = x.cols();
  c.vector("x", x, "gamma", gamma, cols, "the columns");
  c.vector_of("x", x, "mean", mean, stats_dtype(x.dtype), rows, "the rows");
  c.vector_of("x", x, "rstd", rstd, stats_dtype(x.dtype), rows, "the rows");
  c.like("x", x, "dy", dy);
  c.like("x", x, "dx", dx);
  c.vector("x", x, "dgamma", dgamma, cols, "the columns");
  c.vector("x", x, "dbeta", dbeta, cols, "the columns");
  layernorm_backward_impl(x, gamma, mean, rstd, dy, dx, dgamma, dbeta);
}

void Backend::softmax_forward(const Tensor& x, const Tensor& y) {
  const Checker c{"softmax_forward", device()};
  c.floating("x", x);
  c.like("x", x, "y", y);
  softmax_forward_impl(x, y);
}

void Backend::softmax_backward(const Tensor& y, const Tensor& dy, const Tensor& dx) {
  const Checker c{"softmax_backward", device()};
  c.floating("y", y);
  c.like("y", y, "dy", dy);
  c.like("y", y, "dx", dx);
  softmax_backward_impl(y, dy, dx);
}

// ---- sequences ----------------------------------------------------------------------------------------

namespace {

struct AttnDims {
  std::int64_t batch, len, d;
};

// qkv [N, L, 3D] with D divisible by the heads; saved of the backend's shape and dtype; lengths i32 [N]
// or empty; p in [0, 1). Every extent handed to BLAS must fit an int.
AttnDims check_attention(const Checker& c, const Backend& be, const Tensor& qkv, const Tensor& saved,
                         const AttentionArgs& args) {
  c.floating("qkv", qkv);
  HPCT_CHECK(qkv.rank() == 3 && qkv.dim(2) % 3 == 0, c.k, ": qkv must be [N, L, 3 D], got ", qkv.shape.str());
  const AttnDims g{qkv.dim(0), qkv.dim(1), qkv.dim(2) / 3};
  HPCT_CHECK(args.heads >= 1 && g.d % args.heads == 0, c.k, ": d_model ", g.d, " is not divisible by heads ",
             args.heads);
  HPCT_CHECK(g.len >= 1 && g.d >= 1, c.k, ": qkv ", qkv.shape.str(), " has no positions or no features");
  HPCT_CHECK(3 * g.d <= INT_MAX && g.len * g.len <= INT_MAX, c.k, ": qkv ", qkv.shape.str(),
             " exceeds the BLAS integer range");
  c.on_device("saved", saved);
  const DType want = be.attention_saved_dtype(qkv.shape, qkv.dtype, args);
  HPCT_CHECK(saved.dtype == want, c.k, ": saved must be ", name_of(want), " (attention_saved_dtype of ",
             name_of(qkv.dtype), " qkv), got ", name_of(saved.dtype));
  const Shape shape = be.attention_saved_shape(qkv.shape, qkv.dtype, args);
  HPCT_CHECK(saved.shape == shape, c.k, ": saved is ", saved.shape.str(), ", expected ", shape.str(), " for qkv ",
             qkv.shape.str(), " and ", args.heads, " heads");
  c.lengths(args.lengths, g.batch);
  check_probability(c, "dropout probability", args.dropout_p);
  HPCT_CHECK(args.row_ids.empty() || args.row_ids.numel() == g.batch, c.k, ": row_ids ", args.row_ids.shape.str(),
             " must have one id per sequence (", g.batch, ")");
  c.row_ids(args.row_ids, g.batch);
  return g;
}

}  // namespace

void Backend::attention_forward(const Tensor& qkv, const Tensor& out, const Tensor& saved, const AttentionArgs& args) {
  const Checker c{"attention_forward", device()};
  const AttnDims g = check_attention(c, *this, qkv, saved, args);
  c.floating("out", out);
  c.same_dtype("qkv", qkv, "out", out);
  HPCT_CHECK(out.shape == Shape({g.batch, g.len, g.d}), c.k, ": out is ", out.shape.str(), ", expected [", g.batch,
             ", ", g.len, ", ", g.d, "] for qkv ", qkv.shape.str());
  attention_forward_impl(qkv, out, saved, args);
}

void Backend::attention_backward(const Tensor& qkv, const Tensor& out, const Tensor& saved, const Tensor& dout,
                                 const Tensor& dqkv, const AttentionArgs& args) {
  const Checker c{"attention_backward", device()};
  const AttnDims g = check_attention(c, *this, qkv, saved, args);
  c.floating("dout", dout);
  c.same_dtype("qkv", qkv, "dout", dout);
  HPCT_CHECK(dout.shape == Shape({g.batch, g.len, g.d}), c.k, ": dout is ", dout.shape.str(), ", expected [",
             g.batch, ", ", g.len, ", ", g.d, "] for qkv ", qkv.shape.str());
  c.like("qkv", qkv, "dqkv", dqkv);
  c.like("dout", dout, "out", out);
  attention_backward_impl(qkv, out, saved, dout, dqkv, args);
}

void Backend::embedding_forward(const Tensor& ids, const Tensor& table, const Tensor& out) {
  check_embedding({"embedding_forward", device()}, ids, table, "table", out, "out");
  embedding_forward_impl(ids, table, out);
}

void Backend::embedding_backward(const Tensor& ids, const Tensor& dout, const Tensor& dtable) {
  check_embedding({"embedding_backward", device()}, ids, dtable, "dtable", dout, "dout");
  embedding_backward_impl(ids, dout, dtable);
}

void Backend::feature_tokens_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& out) {
  check_feature_tokens({"feature_tokens_forward", device()}, x, w, b, "b", out, "out");
  feature_tokens_forward_impl(x, w, b, out);
}

void Backend::feature_tokens_backward(const Tensor& x, const Tensor& w, const Tensor& dout, const Tensor& dx,
                                      const Tensor& dw, const Tensor& db) {
  const Checker c{"feature_tokens_backward", device()};
  check_feature_tokens(c, x, w, dw, "dw", dout, "dout");
  c.like("w", w, "db", db);
  if (!dx.empty()) c.like("x", x, "dx", dx);
  feature_tokens_backward_impl(x, w, dout, dx, dw, db);
}

void Backend::mean_pool_forward(const Tensor& x, const Tensor& lengths, const Tensor& out) {
  check_pool({"mean_pool_forward", device()}, x, "x", out, "out", lengths);
  mean_pool_forward_impl(x, lengths, out);
}

void Backend::mean_pool_backward(const Tensor& dout, const Tensor& lengths, const Tensor& dx) {
  check_pool({"mean_pool_backward", device()}, dx, "dx", dout, "dout", lengths);
  mean_pool_backward_impl(dout, lengths, dx);
}

// ---- convolutions --------------------------------------------------------------------------------------

void Backend::conv1d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y,
                             const Conv1dArgs& args) {
  const auto g = check_conv({"conv1d_forward", device()}, false, x, "x", y, "y", w, "w", bias, "bias", args);
  conv1d_forward_impl(x, w, bias, y, g);
}

void Backend::conv1d_backward_data(const Tensor& dy, const Tensor& w, const Tensor& dx, const Conv1dArgs& args) {
  const auto g = check_conv({"conv1d_backward_data", device()}, false, dx, "dx", dy, "dy", w, "w", Tensor{}, "", args);
  conv1d_backward_data_impl(dy, w, Tensor{}, dx, g);
}

void Backend::conv1d_backward_filter(const Tensor& x, const Tensor& dy, const Tensor& dw, const Tensor& dbias,
                                     const Conv1dArgs& args) {
  const auto g =
      check_conv({"conv1d_backward_filter", device()}, false, x, "x", dy, "dy", dw, "dw", dbias, "dbias", args);
  conv1d_backward_filter_impl(x, dy, dw, dbias, g);
}

// A transposed conv is the conv whose input is our output: x_conv = y, y_conv = x, the same w.
void Backend::conv_transpose1d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y,
                                       const Conv1dArgs& args) {
  const auto g =
      check_conv({"conv_transpose1d_forward", device()}, true, x, "x", y, "y", w, "w", bias, "bias", args);
  conv1d_backward_data_impl(x, w, bias, y, g);
}

void Backend::conv_transpose1d_backward_data(const Tensor& dy, const Tensor& w, const Tensor& dx,
                                             const Conv1dArgs& args) {
  const auto g =
      check_conv({"conv_transpose1d_backward_data", device()}, true, dx, "dx", dy, "dy", w, "w", Tensor{}, "", args);
  conv1d_forward_impl(dy, w, Tensor{}, dx, g);
}

void Backend::conv_transpose1d_backward_filter(const Tensor& x, const Tensor& dy, const Tensor& dw,
                                               const Tensor& dbias, const Conv1dArgs& args) {
  const auto g = check_conv({"conv_transpose1d_backward_filter", device()}, true, x, "x", dy, "dy", dw, "dw", dbias,
                            "dbias", args);
  conv1d_backward_filter_impl(dy, x, dw, dbias, g);
}

// ---- losses -------------------------------------------------------------------------------------------

// pred and target of one float dtype with the same matrix view [rows, T] (pred_cols_per_target = 1), or
// pred [rows, 2T] for the Gaussian NLL (2); with lengths both [N, L, ...]; dpred, when given, like pred.
void Backend::float_loss(const char* k, FloatLoss kind, std::int64_t pred_cols_per_target, const Tensor& pred,
                         const Tensor& target, const Tensor& dpred, const LossArgs& args, const Tensor& acc) {
  const Checker c{k, device()};
  c.floating("pred", pred);
  c.floating("target", target);
  c.same_dtype("pred", pred, "target", target);
  HPCT_CHECK(pred.rows() == target.rows() && pred.cols() == pred_cols_per_target * target.cols(), k, ": pred is ",
             pred.shape.str(), " but target is ", target.shape.str(),
             pred_cols_per_target == 1 ? " (expected the same [rows, cols])"
                                       : " (expected pred [N, 2T] = (mean, log-variance) for target [N, T])");
  if (!dpred.empty()) c.like("pred", pred, "dpred", dpred);
  if (!args.lengths.empty()) {
    HPCT_CHECK(pred.rank() == 3 && target.rank() == 3 && pred.dim(0) == target.dim(0) && pred.dim(1) == target.dim(1),
               k, ": lengths need per-token pred and target [N, L, ...], got pred ", pred.shape.str(), " and target ",
               target.shape.str());
    c.lengths(args.lengths, pred.dim(0));
  }
  check_loss_scalars(c, args, acc);
  float_loss_impl(kind, pred, target, dpred, args, acc);
}

void Backend::mse_loss(const Tensor& pred, const Tensor& target, const Tensor& dpred, const LossArgs& args,
                       const Tensor& acc) {
  float_loss("mse_loss", FloatLoss::mse, 1, pred, target, dpred, args, acc);
}

void Backend::gaussian_nll_loss(const Tensor& pred, const Tensor& target, const Tensor& dpred, const LossArgs& args,
                                const Tensor& acc) {
  float_loss("gaussian_nll_loss", FloatLoss::gaussian_nll, 2, pred, target, dpred, args, acc);
}

void Backend::bce_logits_loss(const Tensor& pred, const Tensor& target, const Tensor& dpred, const LossArgs& args,
                              const Tensor& acc) {
  float_loss("bce_logits_loss", FloatLoss::bce, 1, pred, target, dpred, args, acc);
}

void Backend::softmax_ce_loss(const Tensor& logits, const Tensor& labels, const Tensor& dlogits, const LossArgs& args,
                              const Tensor& acc) {
  const Checker c{"softmax_ce_loss", device()};
  c.floating("logits", logits);
  c.typed("labels", labels, DType::i32);
  HPCT_CHECK(labels.numel() == logits.rows(), c.k, ": labels ", labels.shape.str(), " has ", labels.numel(),
             " elements, expected one per row of logits ", logits.shape.str());
  if (!dlogits.empty()) c.like("logits", logits, "dlogits", dlogits);
  check_loss_scalars(c, args, acc);
  softmax_ce_loss_impl(logits, labels, dlogits, args, acc);
}

// ---- semi-supervised VAE ------------------------------------------------------------------------------

namespace {
// fp32 (training) or fp64 (finite-difference tests); the ssvae kernels have no 16-bit path.
void check_f32(const Checker& c, const char* what, const Tensor& t) {
  c.floating(what, t);
  HPCT_CHECK(t.dtype == DType::f32 || t.dtype == DType::f64, c.k, ": ", what, " must be f32 or f64, got ",
             name_of(t.dtype));
}
void check_matrix(const Checker& c, const char* what, const Tensor& t, std::int64_t rows, std::int64_t cols) {
  check_f32(c, what, t);
  HPCT_CHECK(t.rank() == 2 && t.dim(0) == rows && t.dim(1) == cols, c.k, ": ", what, " is ", t.shape.str(),
             ", expected [", rows, ", ", cols, "]");
}

// class_concat's pair of shapes, forward (a, out) and backward (da, dout) alike: narrow [R, K], wide
// [R C (expand) or R, K + C].
void check_class_concat(const Checker& c, std::int64_t classes, bool expand, const char* narrow_name,
                        const Tensor& narrow, const char* wide_name, const Tensor& wide) {
  HPCT_CHECK(classes >= 1, c.k, ": classes must be >= 1, got ", classes);
  check_f32(c, narrow_name, narrow);
  HPCT_CHECK(narrow.rank() == 2, c.k, ": ", narrow_name, " must be [R, K], got ", narrow.shape.str());
  check_matrix(c, wide_name, wide, expand ? narrow.dim(0) * classes : narrow.dim(0), narrow.dim(1) + classes);
  c.same_dtype(narrow_name, narrow, wide_name, wide);
}
}  // namespace

void Backend::class_concat_forward(const Tensor& a, std::int64_t classes, bool expand, const Tensor& out) {
  check_class_concat(Checker{"class_concat_forward", device()}, classes, expand, "a", a, "out", out);
  class_concat_forward_impl(a, classes, expand, out);
}

void Backend::class_concat_backward(const Tensor& dout, std::int64_t classes, bool expand, const Tensor& da) {
  check_class_concat(Checker{"class_concat_backward", device()}, classes, expand, "da", da, "dout", dout);
  class_concat_backward_impl(dout, classes, expand, da);
}

void Backend::normal_fill(const Tensor& out, std::uint64_t seed, std::uint64_t stream, const Tensor& row_ids) {
  const Checker c{"normal_fill", device()};
  check_f32(c, "out", out);
  c.row_ids(row_ids, out.numel());
  HPCT_CHECK(row_ids.empty() || ((stream >> 32) & 0x3fffffffu) == 0, c.k, ": stream ", stream,
             " has bits 32-61 set, which row keys add the row id to");
  normal_fill_impl(out, seed, stream, row_ids);
}

void Backend::reparam_forward(const Tensor& enc, const Tensor& eps, const Tensor& z) {
  const Checker c{"reparam_forward", device()};
  check_f32(c, "eps", eps);
  HPCT_CHECK(eps.rank() == 2, c.k, ": eps must be [M, K], got ", eps.shape.str());
  check_matrix(c, "enc", enc, eps.dim(0), 2 * eps.dim(1));
  check_matrix(c, "z", z, eps.dim(0), eps.dim(1));
  c.same_dtype("eps", eps, "enc", enc);
  c.same_dtype("eps", eps, "z", z);
  reparam_forward_impl(enc, eps, z);
}

void Backend::reparam_backward(const Tensor& enc, const Tensor& eps, const Tensor& dz, const Tensor& denc) {
  const Checker c{"reparam_backward", device()};
  check_f32(c, "eps", eps);
  HPCT_CHECK(eps.rank() == 2, c.k, ": eps must be [M, K], got ", eps.shape.str());
  check_matrix(c, "enc", enc, eps.dim(0), 2 * eps.dim(1));
  check_matrix(c, "dz", dz, eps.dim(0), eps.dim(1));
  check_matrix(c, "denc", denc, eps.dim(0), 2 * eps.dim(1));
  for (const auto& [what, t] : {std::pair<const char*, const Tensor*>{"enc", &enc}, {"dz", &dz}, {"denc", &denc}})
    c.same_dtype("eps", eps, what, *t);
  reparam_backward_impl(enc, eps, dz, denc);
}

void Backend::ssvae_objective(const Tensor& x, const Tensor& logits, const Tensor& labels, const Tensor& enc,
                              const Tensor& recon, const SsvaeArgs& ssvae, const LossArgs& args, const Tensor& acc,
                              const Tensor& dlogits, const Tensor& denc, const Tensor& drecon) {
  const Checker c{"ssvae_objective", device()};
  check_f32(c, "x", x);
  check_f32(c, "logits", logits);
  HPCT_CHECK(x.rank() == 2 && logits.rank() == 2 && logits.dim(0) == x.dim(0) && logits.dim(1) >= 1, c.k,
             ": x [N, F] and logits [N, C] expected, got ", x.shape.str(), " and ", logits.shape.str());
  const std::int64_t n = x.dim(0), f = x.dim(1), classes = logits.dim(1);
  c.typed_numel("labels", labels, DType::i32, n);
  check_f32(c, "enc", enc);
  HPCT_CHECK(enc.rank() == 2 && enc.dim(0) == n * classes && enc.dim(1) % 2 == 0 && enc.dim(1) > 0, c.k,
             ": enc must be [N*C, 2K] = [", n * classes, ", 2K], got ", enc.shape.str());
  check_matrix(c, "recon", recon, n * classes, f);
  HPCT_CHECK(ssvae.alpha >= 0.0 && std::isfinite(ssvae.alpha), c.k, ": alpha must be finite and >= 0, got ",
             ssvae.alpha);
  check_loss_scalars(c, args, acc);
  const bool grads = !dlogits.empty() || !denc.empty() || !drecon.empty();
  if (grads) {
    check_matrix(c, "dlogits", dlogits, n, classes);
    check_matrix(c, "denc", denc, enc.dim(0), enc.dim(1));
    check_matrix(c, "drecon", drecon, n * classes, f);
  }
  for (const auto& [what, t] : {std::pair<const char*, const Tensor*>{"logits", &logits}, {"enc", &enc},
                                {"recon", &recon}, {"dlogits", &dlogits}, {"denc", &denc}, {"drecon", &drecon}})
    if (!t->empty()) c.same_dtype("x", x, what, *t);
  ssvae_objective_impl(x, logits, labels, enc, recon, ssvae, args, acc, dlogits, denc, drecon);
}

// ---- device scalars of a step -----------------------------------------------------------------------

void Backend::scale_by(const Tensor& x, const Tensor& factor) {
  const Checker c{"scale_by", device()};
  c.floating("x", x);
  c.typed_numel("factor", factor, DType::f64, 1);
  scale_by_impl(x, factor);
}

void Backend::step_control(const StepControlArgs& args, const Tensor& count, const Tensor& sumsq,
                           const Tensor& loss_scale, const Tensor& control) {
  const Checker c{"step_control", device()};
  c.typed("count", count, DType::f64);
  HPCT_CHECK(count.numel() >= 1, c.k, ": count ", count.shape.str(), " is empty");
  HPCT_CHECK(!sumsq.empty() || (args.max_norm <= 0.0 && !args.check_finite), c.k,
             ": clipping (max_norm ", args.max_norm, ") and the finiteness check need sumsq, got an empty tensor");
  if (!sumsq.empty()) c.typed_numel("sumsq", sumsq, DType::f64, 1);
  if (!loss_scale.empty()) c.typed_numel("loss_scale", loss_scale, DType::f64, 1);
  check_control(c, control);
  HPCT_CHECK(args.max_norm >= 0.0, c.k, ": max_norm ", args.max_norm, " is negative");
  step_control_impl(args, count, sumsq, loss_scale, control);
}

void Backend::update_loss_scale(const LossScaleArgs& args, const Tensor& control, const Tensor& state) {
  const Checker c{"update_loss_scale", device()};
  check_control(c, control);
  c.typed_numel("state", state, DType::f64, ScalerState::kSize);
  HPCT_CHECK(args.growth >= 1.0 && args.backoff > 0.0 && args.backoff <= 1.0 && args.interval >= 1, c.k,
             ": growth ", args.growth, " must be >= 1, backoff ", args.backoff, " in (0, 1], interval ", args.interval,
             " >= 1");
  update_loss_scale_impl(args, control, state);
}

// ---- optimizers ---------------------------------------------------------------------------------------

void Backend::adamw_step(const Tensor& params, const Tensor& master, const Tensor& grads, const Tensor& m,
                         const Tensor& v, const AdamWParams& hp, const Tensor& control) {
  const Checker c{"adamw_step", device()};
  check_optimizer(c, params, master, grads, {{"m", &m}, {"v", &v}}, control);
  HPCT_CHECK(hp.beta1 >= 0.0 && hp.beta1 < 1.0 && hp.beta2 >= 0.0 && hp.beta2 < 1.0, c.k, ": betas (", hp.beta1,
             ", ", hp.beta2, ") must lie in [0, 1)");
  adamw_step_impl(params, master, grads, m, v, hp, control);
}

void Backend::sgd_step(const Tensor& params, const Tensor& master, const Tensor& grads, const Tensor& momentum_buf,
                       const SgdParams& hp, const Tensor& control) {
  const Checker c{"sgd_step", device()};
  HPCT_CHECK(hp.momentum >= 0.0, c.k, ": momentum ", hp.momentum, " is negative");
  HPCT_CHECK(!hp.nesterov || hp.momentum > 0.0, c.k, ": nesterov needs momentum > 0");
  if (hp.momentum > 0.0) {
    HPCT_CHECK(!momentum_buf.empty() || params.numel() == 0, c.k, ": momentum ", hp.momentum,
               " needs a momentum buffer, got an empty tensor");
    check_optimizer(c, params, master, grads, {{"momentum_buf", &momentum_buf}}, control);
  } else {
    check_optimizer(c, params, master, grads, {}, control);
  }
  sgd_step_impl(params, master, grads, momentum_buf, hp, control);
}

// ---- factory ------------------------------------------------------------------------------------------

std::unique_ptr<Backend> make_backend(const std::string& device, int threads) {
  if (device == "cpu") return make_cpu_backend(threads);
  if (device == "cpu-async") return make_cpu_async_backend(threads);
  if (device == "cuda") return make_cuda_backend(local_rank_from_env());
  fail("unknown device '", device, "' (valid: cpu, cpu-async, cuda)");
}

}  // namespace hpct::kernels
