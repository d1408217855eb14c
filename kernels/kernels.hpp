#pragma once
// The op API that layers, losses and optimizers call. One abstract Backend, one implementation per
// device (kernels/cpu now, kernels/cuda later), so a single test suite covers every backend.
//
// Conventions
// - Tensors are row-major views. "Matrix" arguments fold all leading dimensions into rows
//   (Tensor::rows()) and take the last dimension as columns (Tensor::cols()).
// - Floating-point kernels accept f32 and f64 on the CPU (f64 serves the finite-difference tests);
//   all float tensors of one call share a dtype. Integer labels are i32.
// - Output arguments are views of caller-owned memory; "accumulates" means += into it, otherwise the
//   output is overwritten. Outputs never alias inputs unless a kernel says so.
// - Kernels check shapes and dtypes and throw hpct::Error naming the kernel and the mismatch.
#include <cstdint>
#include <memory>
#include <string>

#include "core/allocator.hpp"
#include "core/tensor.hpp"

namespace hpct::kernels {

enum class Activation { identity, relu, gelu_tanh, gelu_exact, tanh, silu };
// Parses "relu", "gelu" (tanh approximation, as GPT-2), "gelu-tanh", "gelu-exact", "tanh", "silu",
// "identity"; throws hpct::Error naming the value otherwise.
Activation parse_activation(const std::string& name);
std::string to_string(Activation a);

// A class label that softmax_ce_loss skips (padding, unlabelled positions), as PyTorch's ignore_index.
inline constexpr std::int32_t kIgnoreLabel = -1;

struct AdamWParams {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.01;
  std::int64_t step = 1;  // 1-based step count, for bias correction
};

struct SgdParams {
  double lr = 1e-2, momentum = 0.0, weight_decay = 0.0;
  bool nesterov = false;
  bool first_step = false;  // momentum buffer is initialised to the gradient on the first step
};

// Arguments of attention_forward / attention_backward besides the tensors (see there).
struct AttentionArgs {
  std::int64_t heads = 1;                 // H; D = H * Dh
  const std::int32_t* lengths = nullptr;  // host [N], each in [1, L]: keys at positions >= lengths[n] are
                                          // masked (key padding); nullptr: all L keys are valid
  bool causal = false;                    // query i also sees no key j > i
  double dropout_p = 0.0;                 // attention dropout on the probabilities, in [0, 1)
  std::uint64_t seed = 0, stream = 0;     // its Philox seed and stream
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string name() const = 0;  // "cpu", "cuda:0"
  virtual Device device() const = 0;
  virtual Allocator& allocator() = 0;
  virtual int threads() const = 0;
  virtual void synchronize() = 0;

  // ---- memory --------------------------------------------------------------------------------
  // dst = src (same numel and dtype; either may be host memory).
  virtual void copy(const Tensor& dst, const Tensor& src) = 0;
  virtual void fill(const Tensor& t, double value) = 0;
  // out[i, :] = src[index[i], :] for a row gather (batch assembly); index is host int64 [n].
  virtual void gather_rows(const Tensor& src, const std::int64_t* index, std::int64_t n, const Tensor& out) = 0;

  // ---- dense algebra -------------------------------------------------------------------------
  // C = alpha * op(A) op(B) + beta * C, op(X) = X or X^T, on matrix views. beta = 1 accumulates.
  virtual void gemm(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, const Tensor& c,
                    double alpha = 1.0, double beta = 0.0) = 0;
  // C = op(A) op(B) + bias, bias [n] added to every row: gemm with a bias epilogue (a Linear's forward
  // in one pass over C; cuBLASLt's CUBLASLT_EPILOGUE_BIAS on CUDA).
  virtual void gemm_bias(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, const Tensor& bias,
                         const Tensor& c) = 0;
  // C = op(A) op(B) + bias, then y = f(C) (C same shape as y, kept as the activation's input for the
  // backward): a Linear and its activation with one pass over C while each tile is in cache
  // (cuBLASLt's CUBLASLT_EPILOGUE_GELU_AUX_BIAS on CUDA). y must not alias C.
  virtual void gemm_bias_act(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, const Tensor& bias,
                             Activation f, const Tensor& c, const Tensor& y) = 0;
  // y[r, c] += bias[c]
  virtual void bias_add(const Tensor& y, const Tensor& bias) = 0;
  // dbias[c] += sum_r dy[r, c]
  virtual void bias_grad(const Tensor& dy, const Tensor& dbias) = 0;
  // y = alpha * x + y (same shape)
  virtual void axpy(double alpha, const Tensor& x, const Tensor& y) = 0;
  // x *= alpha
  virtual void scale(const Tensor& x, double alpha) = 0;
  // sum of x^2 over all elements, accumulated in double
  virtual double sum_squares(const Tensor& x) = 0;
  // 0 if every element is finite, else the index of the first non-finite one + 1
  virtual std::int64_t first_nonfinite(const Tensor& x) = 0;

  // ---- elementwise ---------------------------------------------------------------------------
  // y = f(x); y may alias x.
  virtual void activation_forward(Activation f, const Tensor& x, const Tensor& y) = 0;
  // dx = dy * f'(x); dx may alias dy.
  virtual void activation_backward(Activation f, const Tensor& x, const Tensor& dy, const Tensor& dx) = 0;
  // activation_backward, and dbias[c] += sum_r dx[r, c] in the same pass: the backward of
  // gemm_bias_act's epilogue (cuBLASLt's CUBLASLT_EPILOGUE_DGELU_BGRAD). dx may alias dy.
  virtual void activation_bias_grad(Activation f, const Tensor& x, const Tensor& dy, const Tensor& dx,
                                    const Tensor& dbias) = 0;
  // Inverted dropout: keep element i when philox_uniform(seed, stream, i) >= p, then
  // y = keep ? x / (1 - p) : 0. Backward applies the same mask to dy. p in [0, 1).
  virtual void dropout_forward(const Tensor& x, const Tensor& y, double p, std::uint64_t seed,
                               std::uint64_t stream) = 0;
  virtual void dropout_backward(const Tensor& dy, const Tensor& dx, double p, std::uint64_t seed,
                                std::uint64_t stream) = 0;

  // ---- normalisation -------------------------------------------------------------------------
  // Per row over the last dimension C:
  //   mu = mean(x), rstd = 1 / sqrt(var(x) + eps) (biased variance), y = (x - mu) * rstd * gamma + beta.
  // mean and rstd [rows] are saved for backward.
  virtual void layernorm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& y,
                                 const Tensor& mean, const Tensor& rstd, double eps) = 0;
  // With xhat = (x - mu) * rstd and g = dy * gamma:
  //   dx = rstd * (g - mean(g) - xhat * mean(g * xhat)); dgamma += sum_r dy * xhat; dbeta += sum_r dy.
  virtual void layernorm_backward(const Tensor& x, const Tensor& gamma, const Tensor& mean, const Tensor& rstd,
                                  const Tensor& dy, const Tensor& dx, const Tensor& dgamma,
                                  const Tensor& dbeta) = 0;
  // Row softmax, stable (subtracts the row max). y may alias x.
  virtual void softmax_forward(const Tensor& x, const Tensor& y) = 0;
  // dx = y * (dy - sum_c(dy * y)) per row.
  virtual void softmax_backward(const Tensor& y, const Tensor& dy, const Tensor& dx) = 0;

  // ---- sequences ------------------------------------------------------------------------------
  // Multi-head scaled-dot-product attention on the fused projection qkv [N, L, 3D] = (Q | K | V), each
  // D = H Dh columns wide, head h in columns h Dh .. h Dh + Dh - 1 of each. Per sequence n and head h,
  // with scale = 1 / sqrt(Dh):
  //   S = scale Q K^T [L, L];  P = softmax of each row over the keys it may see, P = 0 exactly elsewhere;
  //   P~ = P * keep / (1 - p);  out[n, :, h Dh ..] = P~ V.
  // Query i of sequence n sees key j when j < lengths[n] and, if causal, j <= i. Query rows at padded
  // positions (i >= lengths[n]) attend normally over the valid keys (lengths >= 1: every row sees one).
  // Attention dropout: keep = philox_uniform(seed, stream, e) >= p, e the flat index of the element in
  // probs [N, H, L, L] (((n H + h) L + i) L + j), i.e. dropout_forward's convention applied to probs.
  // probs [N, H, L, L] saves P (before dropout) for backward; out [N, L, D] is overwritten.
  virtual void attention_forward(const Tensor& qkv, const Tensor& out, const Tensor& probs,
                                 const AttentionArgs& args) = 0;
  // With dO = dout[n, :, h Dh ..] and the forward's mask and dropout (same args):
  //   dP~ = dO V^T;  dP = dP~ * keep / (1 - p);  dS = P * (dP - rowsum(dP * P));
  //   dQ = scale dS K;  dK = scale dS^T Q;  dV = P~^T dO.
  // dqkv [N, L, 3D] is overwritten; masked keys (positions >= lengths[n]) get dK = dV = 0.
  virtual void attention_backward(const Tensor& qkv, const Tensor& probs, const Tensor& dout, const Tensor& dqkv,
                                  const AttentionArgs& args) = 0;
  // Token embedding: out[n, l, :] = table[ids[n, l], :] with ids i32 [N, L] (any shape: all positions),
  // table [V, D], out [N, L, D]. Throws naming the position and value of an id outside [0, V).
  virtual void embedding_forward(const Tensor& ids, const Tensor& table, const Tensor& out) = 0;
  // dtable[v, :] += sum over positions p with ids[p] = v of dout[p, :], the positions summed in order.
  virtual void embedding_backward(const Tensor& ids, const Tensor& dout, const Tensor& dtable) = 0;
  // Tabular feature tokens: x [N, F], w and b [F, D], out [N, F, D]:
  //   out[n, f, :] = x[n, f] w[f, :] + b[f, :].
  virtual void feature_tokens_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& out) = 0;
  //   dx[n, f] = dot(dout[n, f, :], w[f, :])            (overwritten; skipped when dx is empty)
  //   dw[f, :] += sum_n x[n, f] dout[n, f, :];  db[f, :] += sum_n dout[n, f, :].
  virtual void feature_tokens_backward(const Tensor& x, const Tensor& w, const Tensor& dout, const Tensor& dx,
                                       const Tensor& dw, const Tensor& db) = 0;
  // Masked mean over positions: x [N, L, D], out [N, D], lengths host [N] in [1, L] or nullptr (all L):
  //   out[n, :] = sum_{l < len_n} x[n, l, :] / len_n.
  virtual void mean_pool_forward(const Tensor& x, const std::int32_t* lengths, const Tensor& out) = 0;
  //   dx[n, l, :] = l < len_n ? dout[n, :] / len_n : 0        (dx [N, L, D] overwritten)
  virtual void mean_pool_backward(const Tensor& dout, const std::int32_t* lengths, const Tensor& dx) = 0;

  // ---- losses --------------------------------------------------------------------------------
  // Each returns the SUM of the per-element (or per-row) loss over the batch, and, when dpred is not
  // empty, writes dpred = grad_scale * d(sum)/d(pred). Callers pass grad_scale = 1 / count for a mean.
  //
  // MSE: pred, target [N, T]; l = (p - t)^2.
  virtual double mse_loss(const Tensor& pred, const Tensor& target, const Tensor& dpred, double grad_scale) = 0;
  // Gaussian NLL: pred [N, 2T] = (mean [T], log-variance [T]) per row, target [N, T];
  //   l = 0.5 * (s + (t - m)^2 * exp(-s))   (the constant 0.5 log 2 pi is omitted, as PyTorch's default)
  virtual double gaussian_nll_loss(const Tensor& pred, const Tensor& target, const Tensor& dpred,
                                   double grad_scale) = 0;
  // Binary cross-entropy with logits: pred, target [N, T], t in [0, 1];
  //   l = max(z, 0) - z t + log(1 + exp(-|z|)), dl/dz = sigmoid(z) - t.
  virtual double bce_logits_loss(const Tensor& pred, const Tensor& target, const Tensor& dpred,
                                 double grad_scale) = 0;
  // Softmax cross-entropy: logits [N, C] (any leading dims, e.g. [N, L, C] per token), labels i32 with one
  // per row, in [0, C) or kIgnoreLabel; l = logsumexp(z) - z_label, dl/dz = softmax(z) - onehot(label).
  // An ignored row adds nothing to the sum and gets dlogits = 0 (callers count the others for the mean:
  // nn::compute_loss). Throws naming the row of a label out of range.
  virtual double softmax_ce_loss(const Tensor& logits, const Tensor& labels, const Tensor& dlogits,
                                 double grad_scale) = 0;

  // ---- optimizers (flat ranges) --------------------------------------------------------------
  // Decoupled weight decay (Loshchilov & Hutter), as torch.optim.AdamW:
  //   p -= lr * wd * p; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
  //   p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
  virtual void adamw_step(const Tensor& params, const Tensor& grads, const Tensor& m, const Tensor& v,
                          const AdamWParams& hp) = 0;
  // As torch.optim.SGD (dampening 0): g += wd * p; buf = first ? g : momentum * buf + g;
  //   g = nesterov ? g + momentum * buf : buf (when momentum > 0); p -= lr * g.
  virtual void sgd_step(const Tensor& params, const Tensor& grads, const Tensor& momentum_buf,
                        const SgdParams& hp) = 0;
};

// threads <= 0 picks the default (cores of the node / ranks on it, at least 1).
std::unique_ptr<Backend> make_cpu_backend(int threads = 0);

}  // namespace hpct::kernels
