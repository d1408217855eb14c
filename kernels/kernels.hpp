#pragma once
// The op API that layers, losses and optimizers call. One Backend class, one implementation per
// device (kernels/cpu: synchronous and asynchronous; kernels/cuda), so a single test suite covers
// every backend.
//
// Execution model (core/stream.hpp)
// - Every op is enqueued on the backend's current stream (stream(); StreamGuard switches it) and
//   returns at once. The synchronous CPU backend runs it inline; the asynchronous one on a worker
//   thread per stream; CUDA as kernels. No op returns a host value: scalars a step needs (loss sums
//   and counts, gradient norms, the found-non-finite flag, the loss scale) live in device tensors.
// - The host reads device memory only through read_to_host (a copy and a wait, counted in
//   host_syncs()). An error inside an op (an id out of range) surfaces at the next wait.
// - Public methods are non-virtual: they validate shapes, dtypes and devices once, here, and call the
//   backend's protected *_impl, which may assume valid arguments (the non-virtual-interface pattern).
//
// Conventions
// - Tensors are row-major views. "Matrix" arguments fold all leading dimensions into rows
//   (Tensor::rows()) and take the last dimension as columns (Tensor::cols()).
// - Float tensors of one call share a dtype (f32, bf16, f16; f64 for the finite-difference tests),
//   except: layernorm statistics are stats_dtype(x) (f32, f64 for f64 inputs); loss accumulators and
//   device scalars are f64; optimizer state and master weights are f32 (f64 with f64 parameters).
//   Backends without native 16-bit arithmetic (the CPU) widen 16-bit inputs to f32 and round outputs
//   on store, so a 16-bit tensor always holds what a GPU would have stored.
// - Integer inputs (labels, token ids, lengths, row indices) are device tensors: i32, row indices i64.
// - Output arguments are views of caller-owned memory; "accumulates" means += into it, otherwise the
//   output is overwritten. Outputs never alias inputs unless a kernel says so.
// - Checks throw hpct::Error naming the kernel and the mismatch.
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/allocator.hpp"
#include "core/stream.hpp"
#include "core/tensor.hpp"

namespace hpct::kernels {

enum class Activation { identity, relu, gelu_tanh, gelu_exact, tanh, silu };
// Parses "relu", "gelu" (tanh approximation, as GPT-2), "gelu-tanh", "gelu-exact", "tanh", "silu",
// "identity"; throws hpct::Error naming the value otherwise.
Activation parse_activation(const std::string& name);
std::string to_string(Activation a);

// A class label that softmax_ce_loss skips (padding, unlabelled positions), as PyTorch's ignore_index.
inline constexpr std::int32_t kIgnoreLabel = -1;

// The dtype of layernorm's saved mean and rstd for input dtype t.
constexpr DType stats_dtype(DType t) { return t == DType::f64 ? DType::f64 : DType::f32; }
// The dtype of optimizer state and master weights for parameters of dtype t.
constexpr DType master_dtype(DType t) { return t == DType::f64 ? DType::f64 : DType::f32; }

struct AdamWParams {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.01;
};

struct SgdParams {
  double lr = 1e-2, momentum = 0.0, weight_decay = 0.0;
  bool nesterov = false;
};

// The optimizer step's device scalars, f64 [kSize] (StepControl::kSize elements), written by
// step_control and read by the optimizer kernels:
struct StepControl {
  static constexpr int kMultiplier = 0;  // the gradients are used times this (unscale, mean, clip)
  static constexpr int kSkip = 1;        // 1: a gradient was not finite; no parameter changes
  static constexpr int kStep = 2;        // optimizer steps taken (1-based in the kernels; skipped ones
                                         // not counted), for Adam's bias correction
  static constexpr int kNorm = 3;        // the gradient norm after the multiplier, before clipping
  static constexpr int kSize = 4;
};

// step_control's host-side inputs.
struct StepControlArgs {
  double numerator = 1.0;  // multiplier = numerator / count / loss_scale
  double max_norm = 0.0;   // > 0: clip the global norm to it (needs sumsq)
  bool check_finite = false;  // skip the step when sumsq is not finite (needs sumsq)
};

// The dynamic loss scaler's device state, f64 [kSize]: update_loss_scale maintains it.
struct ScalerState {
  static constexpr int kScale = 0;     // the current loss scale
  static constexpr int kGood = 1;      // consecutive finite steps since the last change
  static constexpr int kSkipped = 2;   // steps skipped so far (non-finite gradients)
  static constexpr int kLastSkip = 3;  // the step count at the last skipped step, or -1
  static constexpr int kFirstSkip = 4; // the step count at the first skipped step, or -1
  static constexpr int kStreak = 5;    // skipped steps in a row, up to the latest step
  static constexpr int kMaxStreak = 6; // the longest such run so far (--nan.max-consecutive)
  static constexpr int kSize = 7;
  static constexpr int kSizeV1 = 5;    // checkpoints before the streak counters (they resume with 0)
};
// Without fp16 the same state records skipped steps with growth = backoff = 1 (scale stays 1). The
// step count recorded is control's kStep (the count of steps taken before the skipped one).
struct LossScaleArgs {
  double growth = 2.0, backoff = 0.5;
  std::int64_t interval = 2000;  // finite steps before the scale grows
};

// Arguments of attention_forward / attention_backward besides the tensors (see there).
struct AttentionArgs {
  std::int64_t heads = 1;              // H; D = H * Dh
  Tensor lengths;                      // i32 [N] on the device, each in [1, L]: keys at positions
                                       // >= lengths[n] are masked (key padding); empty: all L keys valid
  bool causal = false;                 // query i also sees no key j > i
  double dropout_p = 0.0;              // attention dropout on the probabilities, in [0, 1)
  std::uint64_t seed = 0, stream = 0;  // its Philox seed and stream
  Tensor row_ids;                      // i64 [N] on the device: the data-set row of each sequence, keying
                                       // the dropout mask (see attention_forward); empty: batch position
};

// Arguments of the losses besides the tensors (see there).
struct LossArgs {
  Tensor lengths;          // i32 [N] for per-token float losses on [N, L, ...]: rows l >= lengths[n]
                           // are padding (not counted, zero gradient); empty: every row counts
  double grad_scale = 1.0; // dpred = grad_scale * d(sum)/d(pred) ...
  bool mean = false;       // ... / count when set: the gradient of the mean over counted elements
  Tensor grad_multiplier;  // f64 [1] on the device, or empty: dpred is also multiplied by it (the
                           // loss scale of fp16 training)
};

// Arguments of the 1-D convolutions besides the tensors (see conv1d_forward, conv_transpose1d_forward).
struct Conv1dArgs {
  std::int64_t stride = 1, padding = 0, dilation = 1;  // S, P, D (PyTorch's nn.Conv1d meaning)
  std::int64_t output_padding = 0;  // transposed only: extra output positions at the end, in [0, max(S, D))
  Tensor lengths;  // i32 [N] on the device: the valid positions of the op's input x, each in [1, L_in];
                   // empty: all valid (see the kernels for the output's valid positions)
};

// How a backend's convolution kernels see one call (the public conv and transposed-conv methods both
// run on the three conv kernels, as cuDNN does: a transposed conv's forward is a conv's backward-data).
// x [N, Lx, Cx] and y [N, Ly, Cy] are the conv's input and output, w [Cy, Cx, K]. Valid positions:
//   transposed = false: lengths are x's; vx = len, vy = min(ceil(len / S), Ly)
//   transposed = true:  lengths are y's; vy = len, vx = min(len * S, Lx); the bias belongs to x (the
//                       transposed conv's output)
// with vx = Lx, vy = Ly when lengths is empty.
struct Conv1dGeom {
  std::int64_t stride = 1, padding = 0, dilation = 1;
  Tensor lengths;
  bool transposed = false;
};

// The ssvae objective's options (Backend::ssvae_objective).
struct SsvaeArgs {
  double alpha = 1.0;     // weight of the classification loss on labelled rows
  bool gaussian = false;  // reconstruction: Bernoulli (logits) or Gaussian (unit variance, means)
};

class Backend {
 public:
  virtual ~Backend() = default;
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  virtual std::string name() const = 0;  // "cpu", "cpu-async", "cuda:0"
  virtual Device device() const = 0;
  virtual Allocator& allocator() = 0;
  virtual int threads() const = 0;

  // ---- streams and host reads ----------------------------------------------------------------
  Stream& stream() { return *current_; }
  Stream& default_stream() { return *default_stream_; }
  // Ops of this backend go to s until set_stream again (StreamGuard restores the previous one).
  void set_stream(Stream& s) { current_ = &s; }
  virtual std::unique_ptr<Stream> create_stream() = 0;
  virtual std::unique_ptr<Event> create_event() = 0;
  // The host waits for every stream of this backend; rethrows the first error an op raised.
  virtual void synchronize() = 0;
  // dst (host memory) = src: a copy on the current stream and a wait for it. The named way to read
  // device memory (logging, checkpoints, evaluation summaries).
  void read_to_host(const Tensor& src, const Tensor& dst_host);
  template <class T>
  std::vector<T> read(const Tensor& src) {
    std::vector<T> out(static_cast<std::size_t>(src.numel()));
    read_to_host(src, Tensor(out.data(), src.shape, dtype_of<T>()));
    return out;
  }
  // Host waits on the thread that created the backend (the training thread): stream and event
  // synchronizations and read_to_host. The trainer prints them per step.
  std::int64_t host_syncs() const { return host_syncs_; }
  // Flow control: the host waits for e because it has run as far ahead of the device as its buffers
  // allow (a full staging ring), not to read a result; the device keeps its queued work meanwhile.
  // Counted in throttle_waits(), not host_syncs(); returns at once when e has completed.
  void throttle(Event& e);
  std::int64_t throttle_waits() const { return throttle_waits_; }

  // ---- timeline (--trace, core/trace.hpp) -----------------------------------------------------
  // The work enqueued on the current stream between device_span_begin and device_span_end shows as
  // `name` on that stream's track, at the times the device ran it. Callers check trace::enabled() first,
  // so a run without --trace pays nothing. The CPU backends record nothing (their host spans are the
  // work); CUDA records timing events (kernels/cuda/cuda_trace.hpp).
  virtual void device_span_begin() {}
  virtual void device_span_end(const char* /*name*/, const char* /*category*/) {}

  // ---- memory --------------------------------------------------------------------------------
  // Host memory for staging copies between the host and this backend (the trainer's batch slots). On
  // CUDA it is page-locked (cudaHostAlloc): copy() from it is a DMA that runs while the host goes on,
  // where a copy from pageable memory is first staged by the driver on the calling thread. Its tensors
  // are host memory (Device cpu). Without pinned memory (the CPU backends) it is host_allocator().
  virtual Allocator& pinned_host_allocator() { return host_allocator(); }
  // Whether pinned_host_allocator() is page-locked: only then is staging through it worth a host copy.
  virtual bool has_pinned_host_memory() const { return false; }
  // dst = src (same numel and dtype; either may be host memory, the other this backend's), enqueued:
  // host memory must stay valid, and a host destination unread, until the stream has passed the copy.
  void copy(const Tensor& dst, const Tensor& src);
  // t[i] = value (any dtype; 16-bit rounds).
  void fill(const Tensor& t, double value);
  // dst = src converted between float dtypes (rounding to nearest-even on store; same numel).
  void cast(const Tensor& src, const Tensor& dst);
  // out[i, :] = src[index[i], :], index i64 [n] on the device, each in [0, src.rows()).
  void gather_rows(const Tensor& src, const Tensor& index, const Tensor& out);

  // ---- dense algebra -------------------------------------------------------------------------
  // C = alpha * op(A) op(B) + beta * C, op(X) = X or X^T, on matrix views. beta = 1 accumulates.
  void gemm(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, const Tensor& c, double alpha = 1.0,
            double beta = 0.0);
  // C = op(A) op(B) + bias, bias [n] added to every row: gemm with a bias epilogue (a Linear's forward
  // in one pass over C; cuBLASLt's CUBLASLT_EPILOGUE_BIAS on CUDA).
  void gemm_bias(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, const Tensor& bias, const Tensor& c);
  // C = op(A) op(B) + bias, then y = f(C) (C same shape as y, kept as the activation's input for the
  // backward): a Linear and its activation with one pass over C while each tile is in cache
  // (cuBLASLt's CUBLASLT_EPILOGUE_GELU_AUX_BIAS on CUDA). y must not alias C.
  void gemm_bias_act(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, const Tensor& bias, Activation f,
                     const Tensor& c, const Tensor& y);
  // y[r, c] += bias[c]
  void bias_add(const Tensor& y, const Tensor& bias);
  // dbias[c] += sum_r dy[r, c]
  void bias_grad(const Tensor& dy, const Tensor& dbias);
  // y = alpha * x + y (same shape)
  void axpy(double alpha, const Tensor& x, const Tensor& y);
  // x *= alpha
  void scale(const Tensor& x, double alpha);
  // out[0] = sum of x^2 over all elements (x any float dtype, accumulated in double), out f64 [1].
  // Not finite when an element of x is not.
  void sum_squares(const Tensor& x, const Tensor& out);

  // out[0] (i64 [1]) = a 64-bit digest of x's bytes, equal for equal bits and (with overwhelming
  // probability) different otherwise: the sum over the 8-byte words w_i (the last zero-padded) of
  // mix(w_i xor mix(i)), mix = splitmix64's finaliser, modulo 2^64. Order-free, so any parallel
  // reduction gives the same value. For comparing replicas (DDP's weight-sync check) by 8 bytes.
  void checksum(const Tensor& x, const Tensor& out);

  // ---- elementwise ---------------------------------------------------------------------------
  // y = f(x); y may alias x.
  void activation_forward(Activation f, const Tensor& x, const Tensor& y);
  // dx = dy * f'(x); dx may alias dy.
  void activation_backward(Activation f, const Tensor& x, const Tensor& dy, const Tensor& dx);
  // activation_backward, and dbias[c] += sum_r dx[r, c] in the same pass: the backward of
  // gemm_bias_act's epilogue (cuBLASLt's CUBLASLT_EPILOGUE_DGELU_BGRAD). dx may alias dy.
  void activation_bias_grad(Activation f, const Tensor& x, const Tensor& dy, const Tensor& dx, const Tensor& dbias);
  // Inverted dropout: keep element i when philox_uniform(seed, stream, c(i)) >= p, then
  // y = keep ? x / (1 - p) : 0. Backward applies the same mask to dy. p in [0, 1).
  // Row keys: without row_ids c(i) = i, the flat index. With row_ids (i64 [N] on the device, N dividing
  // x's size: its leading dimension), x is N rows of K = numel / N elements and element k of row n has
  // c = row_ids[n] K + k: its index in a virtual tensor indexed by data-set row, so a row gets the same
  // mask at any batch position or rank (DDP reproduces one process). Row ids must be in
  // [0, INT64_MAX / K - 1] (the counters stay below 2^63, disjoint per row); another is an error naming
  // it (raised by the op). math::keyed_index is the formula.
  void dropout_forward(const Tensor& x, const Tensor& y, double p, std::uint64_t seed, std::uint64_t stream,
                       const Tensor& row_ids = {});
  void dropout_backward(const Tensor& dy, const Tensor& dx, double p, std::uint64_t seed, std::uint64_t stream,
                        const Tensor& row_ids = {});

  // ---- normalisation -------------------------------------------------------------------------
  // Per row over the last dimension C:
  //   mu = mean(x), rstd = 1 / sqrt(var(x) + eps) (biased variance), y = (x - mu) * rstd * gamma + beta.
  // mean and rstd [rows] (stats_dtype(x)) are saved for backward.
  void layernorm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& y,
                         const Tensor& mean, const Tensor& rstd, double eps);
  // With xhat = (x - mu) * rstd and g = dy * gamma:
  //   dx = rstd * (g - mean(g) - xhat * mean(g * xhat)); dgamma += sum_r dy * xhat; dbeta += sum_r dy.
  void layernorm_backward(const Tensor& x, const Tensor& gamma, const Tensor& mean, const Tensor& rstd,
                          const Tensor& dy, const Tensor& dx, const Tensor& dgamma, const Tensor& dbeta);
  // Row softmax, stable (subtracts the row max). y may alias x.
  void softmax_forward(const Tensor& x, const Tensor& y);
  // dx = y * (dy - sum_c(dy * y)) per row.
  void softmax_backward(const Tensor& y, const Tensor& dy, const Tensor& dx);

  // ---- sequences ------------------------------------------------------------------------------
  // The state attention_forward saves for attention_backward, opaque to callers and sized by the
  // backend for this call (qkv's shape and dtype, args): the CPU keeps the probabilities [N, H, L, L];
  // CUDA the same from its own kernel, or cuDNN's per-row softmax statistics [N, H, L] (the logsumexp)
  // where cuDNN's fused attention runs the call. Allocate a tensor of this shape and dtype and hand it
  // to both passes, with the same args.
  virtual Shape attention_saved_shape(const Shape& qkv, DType dtype, const AttentionArgs& args) const;
  virtual DType attention_saved_dtype(const Shape& qkv, DType dtype, const AttentionArgs& args) const;
  // Multi-head scaled-dot-product attention on the fused projection qkv [N, L, 3D] = (Q | K | V), each
  // D = H Dh columns wide, head h in columns h Dh .. h Dh + Dh - 1 of each. Per sequence n and head h,
  // with scale = 1 / sqrt(Dh):
  //   S = scale Q K^T [L, L];  P = softmax of each row over the keys it may see, P = 0 exactly elsewhere;
  //   P~ = P * keep / (1 - p);  out[n, :, h Dh ..] = P~ V.
  // Query i of sequence n sees key j when j < lengths[n] and, if causal, j <= i. Query rows at padded
  // positions (i >= lengths[n]) attend normally over the valid keys (lengths >= 1: every row sees one).
  // Attention dropout: keep = philox_uniform(seed, stream, e) >= p, e the flat index of the element in
  // P [N, H, L, L] (((n H + h) L + i) L + j), i.e. dropout_forward's convention applied to P; with
  // args.row_ids the row-keyed index ((row_ids[n] H + h) L + i) L + j (dropout_forward's row keys on P).
  // out [N, L, D] is overwritten; saved (attention_saved_shape) keeps what backward needs.
  void attention_forward(const Tensor& qkv, const Tensor& out, const Tensor& saved, const AttentionArgs& args);
  // With dO = dout[n, :, h Dh ..] and the forward's mask and dropout (same args), out and saved as
  // the forward left them (a flash-style backward recomputes P from saved and needs out for rowsum):
  //   dP~ = dO V^T;  dP = dP~ * keep / (1 - p);  dS = P * (dP - rowsum(dP * P));
  //   dQ = scale dS K;  dK = scale dS^T Q;  dV = P~^T dO.
  // dqkv [N, L, 3D] is overwritten; masked keys (positions >= lengths[n]) get dK = dV = 0.
  void attention_backward(const Tensor& qkv, const Tensor& out, const Tensor& saved, const Tensor& dout,
                          const Tensor& dqkv, const AttentionArgs& args);
  // Token embedding: out[n, l, :] = table[ids[n, l], :] with ids i32 [N, L] (any shape: all positions),
  // table [V, D], out [N, L, D]. An id outside [0, V) is an error naming its position and value (raised
  // by the op, so seen at the next wait).
  void embedding_forward(const Tensor& ids, const Tensor& table, const Tensor& out);
  // dtable[v, :] += sum over positions p with ids[p] = v of dout[p, :], the positions summed in order.
  void embedding_backward(const Tensor& ids, const Tensor& dout, const Tensor& dtable);
  // Tabular feature tokens: x [N, F], w and b [F, D], out [N, F, D]:
  //   out[n, f, :] = x[n, f] w[f, :] + b[f, :].
  void feature_tokens_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& out);
  //   dx[n, f] = dot(dout[n, f, :], w[f, :])            (overwritten; skipped when dx is empty)
  //   dw[f, :] += sum_n x[n, f] dout[n, f, :];  db[f, :] += sum_n dout[n, f, :].
  void feature_tokens_backward(const Tensor& x, const Tensor& w, const Tensor& dout, const Tensor& dx,
                               const Tensor& dw, const Tensor& db);
  // Masked mean over positions: x [N, L, D], out [N, D], lengths i32 [N] in [1, L] or empty (all L):
  //   out[n, :] = sum_{l < len_n} x[n, l, :] / len_n.
  void mean_pool_forward(const Tensor& x, const Tensor& lengths, const Tensor& out);
  //   dx[n, l, :] = l < len_n ? dout[n, :] / len_n : 0        (dx [N, L, D] overwritten)
  void mean_pool_backward(const Tensor& dout, const Tensor& lengths, const Tensor& dx);

  // ---- 1-D convolutions over sequences [N, L, C] ------------------------------------------------
  // Conv1d as torch.nn.Conv1d on channels-last data: x [N, Li, Ci], w [Co, Ci, K] (PyTorch's layout),
  // bias [Co] or empty, y [N, Lo, Co], Lo = floor((Li + 2P - D (K - 1) - 1) / S) + 1:
  //   y[n, o, c] = bias[c] + sum_{k, ci} w[c, ci, k] x[n, o S - P + k D, ci]
  // where x is zero outside [0, len_n) (padding and masked positions contribute nothing). Output
  // positions o >= min(ceil(len_n / S), Lo) are set to zero (with "same" padding these are the outputs
  // of padded inputs). y is overwritten.
  void conv1d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y, const Conv1dArgs& args);
  //   dx[n, i, ci] = i < len_n ? sum_{o valid, k : o S - P + k D = i} w[c, ci, k] dy[n, o, c] : 0
  // (dx [N, Li, Ci] overwritten; dy at masked outputs is ignored).
  void conv1d_backward_data(const Tensor& dy, const Tensor& w, const Tensor& dx, const Conv1dArgs& args);
  //   dw[c, ci, k] += sum_{n, o valid} dy[n, o, c] x[n, o S - P + k D, ci]  (x masked as in forward);
  //   dbias[c] += sum_{n, o valid} dy[n, o, c]   (dbias may be empty).
  void conv1d_backward_filter(const Tensor& x, const Tensor& dy, const Tensor& dw, const Tensor& dbias,
                              const Conv1dArgs& args);
  // ConvTranspose1d as torch.nn.ConvTranspose1d: x [N, Li, Ci], w [Ci, Co, K] (PyTorch's layout),
  // bias [Co] or empty, y [N, Lo, Co], Lo = (Li - 1) S - 2P + D (K - 1) + output_padding + 1:
  //   y[n, o, c] = bias[c] + sum_{i < len_n, k : i S - P + k D = o} w[ci, c, k] x[n, i, ci]
  // (the adjoint of conv1d: conv1d_backward_data with w read as the conv's [Co', Ci', K]). Output
  // positions o >= min(len_n S, Lo) are set to zero.
  void conv_transpose1d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y,
                                const Conv1dArgs& args);
  //   dx[n, i, ci] = i < len_n ? sum_{k, o valid : o = i S - P + k D} w[ci, c, k] dy[n, o, c] : 0
  // (conv1d_forward of dy; dx overwritten).
  void conv_transpose1d_backward_data(const Tensor& dy, const Tensor& w, const Tensor& dx, const Conv1dArgs& args);
  //   dw[ci, c, k] += sum_{n, i < len_n, o valid : o = i S - P + k D} x[n, i, ci] dy[n, o, c];
  //   dbias[c] += sum_{n, o valid} dy[n, o, c]   (dbias may be empty).
  void conv_transpose1d_backward_filter(const Tensor& x, const Tensor& dy, const Tensor& dw, const Tensor& dbias,
                                        const Conv1dArgs& args);

  // ---- losses --------------------------------------------------------------------------------
  // Each adds {sum of the per-element (or per-row) loss, number of counted elements} to acc, f64 [2]
  // on the device, and, when dpred is not empty, writes dpred = grad_scale * d(sum)/d(pred) (see
  // LossArgs: / count with mean, times grad_multiplier), zero at uncounted rows.
  //
  // MSE: pred, target [N, T] or per token [N, L, T]; l = (p - t)^2.
  void mse_loss(const Tensor& pred, const Tensor& target, const Tensor& dpred, const LossArgs& args,
                const Tensor& acc);
  // Gaussian NLL: pred [.., 2T] = (mean [T], log-variance [T]) per row, target [.., T];
  //   l = 0.5 * (s + (t - m)^2 * exp(-s))   (the constant 0.5 log 2 pi is omitted, as PyTorch's default)
  void gaussian_nll_loss(const Tensor& pred, const Tensor& target, const Tensor& dpred, const LossArgs& args,
                         const Tensor& acc);
  // Binary cross-entropy with logits: pred, target [.., T], t in [0, 1];
  //   l = max(z, 0) - z t + log(1 + exp(-|z|)), dl/dz = sigmoid(z) - t.
  void bce_logits_loss(const Tensor& pred, const Tensor& target, const Tensor& dpred, const LossArgs& args,
                       const Tensor& acc);
  // Softmax cross-entropy: logits [N, C] (any leading dims, e.g. [N, L, C] per token), labels i32 with one
  // per row, in [0, C) or kIgnoreLabel; l = logsumexp(z) - z_label, dl/dz = softmax(z) - onehot(label).
  // An ignored row is not counted and gets dlogits = 0 (args.lengths is not used: padding is labelled
  // kIgnoreLabel). A label out of range is an error naming the row (raised by the op).
  void softmax_ce_loss(const Tensor& logits, const Tensor& labels, const Tensor& dlogits, const LossArgs& args,
                       const Tensor& acc);

  // ---- semi-supervised VAE (model ssvae, Kingma et al. 2014 "M2"); float32 only ---------------------
  // Rows paired with classes: a [R, K] -> out [R*C, K+C] with expand (row r*C + c = [a_r, onehot(c)]),
  // else out [R, K+C] (row r = [a_r, onehot(r mod C)]).
  void class_concat_forward(const Tensor& a, std::int64_t classes, bool expand, const Tensor& out);
  //   da[r, :] = sum of dout[row, :K] over the rows made from a_r        (da overwritten)
  void class_concat_backward(const Tensor& dout, std::int64_t classes, bool expand, const Tensor& da);
  // Standard normal noise by Box-Muller from Philox: u1 = philox_uniform(seed, stream, 2i),
  // u2 = philox_uniform(seed, stream, 2i + 1), out[i] = sqrt(-2 ln(1 - u1)) cos(2 pi u2).
  // With row_ids (i64 [N] on the device, N dividing out's size): out is N rows of K = numel / N
  // elements, and row n is filled as a K-element normal_fill of its own stream,
  // stream + (row_ids[n] + 1) 2^32 (math::row_stream): a data-set row's noise wherever it lands, in one
  // call. Row ids in [0, 2^30 - 2] and stream's bits 32-61 clear; another row id is an error (by the op).
  void normal_fill(const Tensor& out, std::uint64_t seed, std::uint64_t stream, const Tensor& row_ids = {});
  // Reparameterisation: enc [M, 2K] = (mu, log-variance lv), eps [M, K]: z = mu + exp(lv / 2) eps.
  void reparam_forward(const Tensor& enc, const Tensor& eps, const Tensor& z);
  //   denc[:, :K] += dz;  denc[:, K:] += dz eps exp(lv / 2) / 2              (accumulates into denc)
  void reparam_backward(const Tensor& enc, const Tensor& eps, const Tensor& dz, const Tensor& denc);
  // The M2 objective (negative ELBOs) of N rows x [N, F], classifier logits [N, C], labels i32 [N] (class
  // or -1 = unlabelled), and for every pair (n, c) (row n C + c) the encoder output enc [N*C, 2K] =
  // (mu, lv) and the decoder's reconstruction logits (Bernoulli) or means (Gaussian) recon [N*C, F]:
  //   L(n, c) = R(x_n, recon_nc) + KL_nc + log C       (-log p(x|y,z) - log p(y) + KL(q(z|x,y) || N(0, I)))
  //   R = sum_f max(r, 0) - r x + log(1 + exp(-|r|))  (bernoulli)  or  sum_f (x - r)^2 / 2 + log(2 pi) / 2
  //   KL = sum_k (mu^2 + exp(lv) - 1 - lv) / 2
  //   labelled (y_n = c):  l_n = L(n, c) + alpha (logsumexp(z_n) - z_nc)
  //   unlabelled:          l_n = sum_c q_c (L(n, c) + log q_c),  q = softmax(z_n)
  // Adds {sum_n l_n, N} to acc (f64 [2]) and writes, with s = grad_scale * grad_multiplier[0] (LossArgs;
  // mean and lengths not used) and weights w_nc = onehot(y_n) or q_nc:
  //   drecon = s w dR/drecon, denc = s w dKL/denc (overwritten), dlogits = s alpha (q - onehot(y)) or
  //   s q_j (g_j - sum_c q_c g_c) with g_c = L(n, c) + log q_c.
  void ssvae_objective(const Tensor& x, const Tensor& logits, const Tensor& labels, const Tensor& enc,
                       const Tensor& recon, const SsvaeArgs& ssvae, const LossArgs& args, const Tensor& acc,
                       const Tensor& dlogits, const Tensor& denc, const Tensor& drecon);

  // ---- device scalars of a step ------------------------------------------------------------
  // x *= factor[0], factor f64 [1] on the device.
  void scale_by(const Tensor& x, const Tensor& factor);
  // control (f64 [StepControl::kSize]) for the next optimizer step, from device scalars:
  //   multiplier = count[0] > 0 ? numerator / count[0] / scale : 0   (scale = loss_scale[0], or 1 when
  //                loss_scale is empty; count f64 [>= 1], e.g. a loss accumulator's sum at [1]: pass
  //                its element 1 as a view)
  //   skip = check_finite and sumsq[0] is not finite
  //   norm = sqrt(sumsq[0]) * multiplier (when sumsq is given), and with max_norm > 0 the multiplier
  //          is further scaled by min(1, max_norm / (norm + 1e-6)) (torch.nn.utils.clip_grad_norm_)
  //   step += 1 unless skip.
  void step_control(const StepControlArgs& args, const Tensor& count, const Tensor& sumsq, const Tensor& loss_scale,
                    const Tensor& control);
  // The dynamic loss scaler (ScalerState): after a skipped step scale *= backoff and the good-step
  // count restarts; after `interval` consecutive good steps scale *= growth.
  void update_loss_scale(const LossScaleArgs& args, const Tensor& control, const Tensor& state);

  // ---- optimizers (flat ranges) --------------------------------------------------------------
  // Every optimizer uses g = multiplier * grads (control) and changes nothing when control says skip.
  // params are in the compute dtype; master (master_dtype, same numel) is the copy the update is
  // applied to when params are 16-bit, after which params = round(master) in the same pass; empty
  // when params are f32/f64 (the update is applied to params). State m, v, momentum: master_dtype.
  //
  // Decoupled weight decay (Loshchilov & Hutter), as torch.optim.AdamW, t = control's step:
  //   p -= lr * wd * p; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
  //   p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
  void adamw_step(const Tensor& params, const Tensor& master, const Tensor& grads, const Tensor& m, const Tensor& v,
                  const AdamWParams& hp, const Tensor& control);
  // As torch.optim.SGD (dampening 0): g += wd * p; buf = (t == 1) ? g : momentum * buf + g;
  //   g = nesterov ? g + momentum * buf : buf (when momentum > 0); p -= lr * g.
  void sgd_step(const Tensor& params, const Tensor& master, const Tensor& grads, const Tensor& momentum_buf,
                const SgdParams& hp, const Tensor& control);

 protected:
  Backend() = default;
  // The backend's default stream: set once by the implementation's constructor.
  void set_default_stream(Stream& s) {
    default_stream_ = &s;
    current_ = &s;
  }
  // Implementations call this for each host wait they perform for the caller.
  void count_host_sync();
  // Tensors an op accepts: this backend's memory (and, for copy, host memory).
  bool on_device(const Tensor& t) const;

  struct GemmEpilogue {
    const Tensor* bias = nullptr;
    Activation act = Activation::identity;
    const Tensor* y = nullptr;  // where f(C) goes; nullptr: no activation
  };

  virtual void copy_impl(const Tensor& dst, const Tensor& src) = 0;
  virtual void fill_impl(const Tensor& t, double value) = 0;
  virtual void cast_impl(const Tensor& src, const Tensor& dst) = 0;
  virtual void gather_rows_impl(const Tensor& src, const Tensor& index, const Tensor& out) = 0;
  virtual void gemm_impl(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, const Tensor& c, double alpha,
                         double beta, const GemmEpilogue& epilogue) = 0;
  virtual void bias_add_impl(const Tensor& y, const Tensor& bias) = 0;
  virtual void bias_grad_impl(const Tensor& dy, const Tensor& dbias) = 0;
  virtual void axpy_impl(double alpha, const Tensor& x, const Tensor& y) = 0;
  virtual void scale_impl(const Tensor& x, double alpha) = 0;
  virtual void sum_squares_impl(const Tensor& x, const Tensor& out) = 0;
  virtual void checksum_impl(const Tensor& x, const Tensor& out) = 0;
  virtual void activation_forward_impl(Activation f, const Tensor& x, const Tensor& y) = 0;
  virtual void activation_backward_impl(Activation f, const Tensor& x, const Tensor& dy, const Tensor& dx) = 0;
  virtual void activation_bias_grad_impl(Activation f, const Tensor& x, const Tensor& dy, const Tensor& dx,
                                         const Tensor& dbias) = 0;
  virtual void dropout_forward_impl(const Tensor& x, const Tensor& y, double p, std::uint64_t seed,
                                    std::uint64_t stream, const Tensor& row_ids) = 0;
  virtual void dropout_backward_impl(const Tensor& dy, const Tensor& dx, double p, std::uint64_t seed,
                                     std::uint64_t stream, const Tensor& row_ids) = 0;
  virtual void layernorm_forward_impl(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& y,
                                      const Tensor& mean, const Tensor& rstd, double eps) = 0;
  virtual void layernorm_backward_impl(const Tensor& x, const Tensor& gamma, const Tensor& mean, const Tensor& rstd,
                                       const Tensor& dy, const Tensor& dx, const Tensor& dgamma,
                                       const Tensor& dbeta) = 0;
  virtual void softmax_forward_impl(const Tensor& x, const Tensor& y) = 0;
  virtual void softmax_backward_impl(const Tensor& y, const Tensor& dy, const Tensor& dx) = 0;
  virtual void attention_forward_impl(const Tensor& qkv, const Tensor& out, const Tensor& saved,
                                      const AttentionArgs& args) = 0;
  virtual void attention_backward_impl(const Tensor& qkv, const Tensor& out, const Tensor& saved, const Tensor& dout,
                                       const Tensor& dqkv, const AttentionArgs& args) = 0;
  virtual void embedding_forward_impl(const Tensor& ids, const Tensor& table, const Tensor& out) = 0;
  virtual void embedding_backward_impl(const Tensor& ids, const Tensor& dout, const Tensor& dtable) = 0;
  virtual void feature_tokens_forward_impl(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& out) = 0;
  virtual void feature_tokens_backward_impl(const Tensor& x, const Tensor& w, const Tensor& dout, const Tensor& dx,
                                            const Tensor& dw, const Tensor& db) = 0;
  virtual void mean_pool_forward_impl(const Tensor& x, const Tensor& lengths, const Tensor& out) = 0;
  virtual void mean_pool_backward_impl(const Tensor& dout, const Tensor& lengths, const Tensor& dx) = 0;
  // The three convolution kernels (Conv1dGeom): y = conv(x, w) + bias; x-side gradient (plus, when
  // transposed, the bias on x); filter and bias gradients (accumulated).
  virtual void conv1d_forward_impl(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y,
                                   const Conv1dGeom& g) = 0;
  virtual void conv1d_backward_data_impl(const Tensor& dy, const Tensor& w, const Tensor& bias, const Tensor& dx,
                                         const Conv1dGeom& g) = 0;
  virtual void conv1d_backward_filter_impl(const Tensor& x, const Tensor& dy, const Tensor& dw, const Tensor& dbias,
                                           const Conv1dGeom& g) = 0;
  enum class FloatLoss { mse, gaussian_nll, bce };
  virtual void float_loss_impl(FloatLoss kind, const Tensor& pred, const Tensor& target, const Tensor& dpred,
                               const LossArgs& args, const Tensor& acc) = 0;
  virtual void softmax_ce_loss_impl(const Tensor& logits, const Tensor& labels, const Tensor& dlogits,
                                    const LossArgs& args, const Tensor& acc) = 0;
  virtual void class_concat_forward_impl(const Tensor& a, std::int64_t classes, bool expand, const Tensor& out) = 0;
  virtual void class_concat_backward_impl(const Tensor& dout, std::int64_t classes, bool expand, const Tensor& da) = 0;
  virtual void normal_fill_impl(const Tensor& out, std::uint64_t seed, std::uint64_t stream,
                                const Tensor& row_ids) = 0;
  virtual void reparam_forward_impl(const Tensor& enc, const Tensor& eps, const Tensor& z) = 0;
  virtual void reparam_backward_impl(const Tensor& enc, const Tensor& eps, const Tensor& dz, const Tensor& denc) = 0;
  virtual void ssvae_objective_impl(const Tensor& x, const Tensor& logits, const Tensor& labels, const Tensor& enc,
                                    const Tensor& recon, const SsvaeArgs& ssvae, const LossArgs& args,
                                    const Tensor& acc, const Tensor& dlogits, const Tensor& denc,
                                    const Tensor& drecon) = 0;
  virtual void scale_by_impl(const Tensor& x, const Tensor& factor) = 0;
  virtual void step_control_impl(const StepControlArgs& args, const Tensor& count, const Tensor& sumsq,
                                 const Tensor& loss_scale, const Tensor& control) = 0;
  virtual void update_loss_scale_impl(const LossScaleArgs& args, const Tensor& control, const Tensor& state) = 0;
  virtual void adamw_step_impl(const Tensor& params, const Tensor& master, const Tensor& grads, const Tensor& m,
                               const Tensor& v, const AdamWParams& hp, const Tensor& control) = 0;
  virtual void sgd_step_impl(const Tensor& params, const Tensor& master, const Tensor& grads,
                             const Tensor& momentum_buf, const SgdParams& hp, const Tensor& control) = 0;

 private:
  void float_loss(const char* k, FloatLoss kind, std::int64_t pred_cols_per_target, const Tensor& pred,
                  const Tensor& target, const Tensor& dpred, const LossArgs& args, const Tensor& acc);
  Stream* default_stream_ = nullptr;
  Stream* current_ = nullptr;
  std::int64_t host_syncs_ = 0, throttle_waits_ = 0;
  std::thread::id owner_ = std::this_thread::get_id();  // the thread whose waits count
};

// Switches a backend's current stream for a scope.
class StreamGuard {
 public:
  StreamGuard(Backend& be, Stream& s) : be_(be), prev_(be.stream()) { be.set_stream(s); }
  ~StreamGuard() { be_.set_stream(prev_); }
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  Backend& be_;
  Stream& prev_;
};

// "cpu" (synchronous: every op runs inline on the calling thread), "cpu-async" (each stream a worker
// thread; device memory the host may not touch; proves the code correct for a GPU). threads <= 0
// picks the default (cores of the node / ranks on it, at least 1).
std::unique_ptr<Backend> make_cpu_backend(int threads = 0);
std::unique_ptr<Backend> make_cpu_async_backend(int threads = 0);
// By name: "cpu", "cpu-async", "cuda" (make_cuda_backend for the launcher's local rank, every visible
// GPU, no sharing); throws naming the value otherwise.
std::unique_ptr<Backend> make_backend(const std::string& device, int threads = 0);

// ---- CUDA (kernels/cuda_factory.cpp; the backend itself in kernels/cuda/, built as the plugin
// libhpctrain_cuda.so and loaded on first use: kernels/cuda_plugin.hpp) --------------------------------
// Usable GPUs of this process (CUDA_VISIBLE_DEVICES applies, CUDA reads it). 0 when there are none, and
// then *why (when given) says why: the build has no CUDA backend, the machine no CUDA driver (the
// plugin is then not loaded), the plugin cannot be loaded, or the CUDA error of cudaGetDeviceCount
// ("CUDA driver version is insufficient for CUDA runtime version", no device).
int cuda_device_count(std::string* why = nullptr);
// `hpctrain info --system`: lines naming the CUDA runtime, driver, cuBLASLt, cuDNN and NCCL versions,
// then each visible GPU (name, memory, compute capability, peer access), or "no GPU visible (why)".
std::string cuda_system_report();
// The name of visible GPU `device`; "none" in a build without CUDA.
std::string cuda_device_name(int device);
// This process's rank among the job's ranks on its node: OMPI_COMM_WORLD_LOCAL_RANK (Open MPI), else
// MPI_LOCALRANKID (MPICH, Intel MPI), else SLURM_LOCALID, else 0.
int local_rank_from_env();
// The GPU a rank uses: ids = gpu_ids, or 0 .. visible - 1 when empty (each id must be < visible);
// device = ids[local_rank % ids.size()]. More ranks on the node than ids is an error naming both counts
// unless allow_sharing (several ranks then share a GPU).
int choose_cuda_device(int local_rank, int ranks_on_node, int visible, const std::vector<int>& gpu_ids,
                       bool allow_sharing);
// The CUDA backend on choose_cuda_device(local_rank, ranks_on_node(), cuda_device_count(), ...). Throws
// hpct::Error naming the CUDA error when no GPU is usable or the build has no CUDA backend. tf32: fp32
// GEMMs on TF32 tensor cores (--precision.tf32; off: full fp32 products).
std::unique_ptr<Backend> make_cuda_backend(int local_rank = 0, const std::vector<int>& gpu_ids = {},
                                           bool allow_gpu_sharing = false, bool tf32 = false);

}  // namespace hpct::kernels
