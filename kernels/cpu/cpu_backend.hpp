#pragma once
// The CPU backend: OpenBLAS for gemm, OpenMP loops for everything else, float32 and float64.
// The methods are defined one concern per file: cpu_backend.cpp (threads, memory, gemm),
// cpu_elementwise.cpp (bias, activations, dropout), cpu_norm.cpp (layernorm, softmax), cpu_loss.cpp,
// cpu_optim.cpp (optimizer steps and flat-range reductions), cpu_attention.cpp (fused multi-head
// attention), cpu_embedding.cpp (token embedding, feature tokens), cpu_pool.cpp (masked mean pooling).
#include <cstdint>
#include <string>

#include "kernels/kernels.hpp"

namespace hpct::kernels {

// Ranks of this job on this node, from the launcher's environment: OMPI_COMM_WORLD_LOCAL_SIZE
// (Open MPI), else MPI_LOCALNRANKS (MPICH, Intel MPI), else SLURM_NTASKS_PER_NODE (its leading
// integer: "4(x2)" is 4), else 1.
int ranks_on_node();

// The thread count make_cpu_backend(0) uses: OMP_NUM_THREADS when it is set to a positive integer,
// else max(1, cores / ranks_on_node()), cores being the hardware threads this process may run on.
int default_cpu_threads();

class CpuBackend final : public Backend {
 public:
  // threads <= 0 picks default_cpu_threads().
  explicit CpuBackend(int threads = 0);

  std::string name() const override { return "cpu"; }
  Device device() const override { return {}; }
  Allocator& allocator() override { return host_allocator(); }
  int threads() const override { return threads_; }
  void synchronize() override {}

  void copy(const Tensor& dst, const Tensor& src) override;
  void fill(const Tensor& t, double value) override;
  void gather_rows(const Tensor& src, const std::int64_t* index, std::int64_t n, const Tensor& out) override;

  void gemm(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, const Tensor& c, double alpha = 1.0,
            double beta = 0.0) override;
  void gemm_bias(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, const Tensor& bias,
                 const Tensor& c) override;
  void gemm_bias_act(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, const Tensor& bias, Activation f,
                     const Tensor& c, const Tensor& y) override;
  void bias_add(const Tensor& y, const Tensor& bias) override;
  void bias_grad(const Tensor& dy, const Tensor& dbias) override;
  void axpy(double alpha, const Tensor& x, const Tensor& y) override;
  void scale(const Tensor& x, double alpha) override;
  double sum_squares(const Tensor& x) override;
  std::int64_t first_nonfinite(const Tensor& x) override;

  void activation_forward(Activation f, const Tensor& x, const Tensor& y) override;
  void activation_backward(Activation f, const Tensor& x, const Tensor& dy, const Tensor& dx) override;
  void activation_bias_grad(Activation f, const Tensor& x, const Tensor& dy, const Tensor& dx,
                            const Tensor& dbias) override;
  void dropout_forward(const Tensor& x, const Tensor& y, double p, std::uint64_t seed,
                       std::uint64_t stream) override;
  void dropout_backward(const Tensor& dy, const Tensor& dx, double p, std::uint64_t seed,
                        std::uint64_t stream) override;

  void layernorm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& y,
                         const Tensor& mean, const Tensor& rstd, double eps) override;
  void layernorm_backward(const Tensor& x, const Tensor& gamma, const Tensor& mean, const Tensor& rstd,
                          const Tensor& dy, const Tensor& dx, const Tensor& dgamma, const Tensor& dbeta) override;
  void softmax_forward(const Tensor& x, const Tensor& y) override;
  void softmax_backward(const Tensor& y, const Tensor& dy, const Tensor& dx) override;

  void attention_forward(const Tensor& qkv, const Tensor& out, const Tensor& probs,
                         const AttentionArgs& args) override;
  void attention_backward(const Tensor& qkv, const Tensor& probs, const Tensor& dout, const Tensor& dqkv,
                          const AttentionArgs& args) override;
  void embedding_forward(const Tensor& ids, const Tensor& table, const Tensor& out) override;
  void embedding_backward(const Tensor& ids, const Tensor& dout, const Tensor& dtable) override;
  void feature_tokens_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& out) override;
  void feature_tokens_backward(const Tensor& x, const Tensor& w, const Tensor& dout, const Tensor& dx,
                               const Tensor& dw, const Tensor& db) override;
  void mean_pool_forward(const Tensor& x, const std::int32_t* lengths, const Tensor& out) override;
  void mean_pool_backward(const Tensor& dout, const std::int32_t* lengths, const Tensor& dx) override;

  double mse_loss(const Tensor& pred, const Tensor& target, const Tensor& dpred, double grad_scale) override;
  double gaussian_nll_loss(const Tensor& pred, const Tensor& target, const Tensor& dpred,
                           double grad_scale) override;
  double bce_logits_loss(const Tensor& pred, const Tensor& target, const Tensor& dpred,
                         double grad_scale) override;
  double softmax_ce_loss(const Tensor& logits, const Tensor& labels, const Tensor& dlogits,
                         double grad_scale) override;

  void adamw_step(const Tensor& params, const Tensor& grads, const Tensor& m, const Tensor& v,
                  const AdamWParams& hp) override;
  void sgd_step(const Tensor& params, const Tensor& grads, const Tensor& momentum_buf,
                const SgdParams& hp) override;

 private:
  // openblas_set_num_threads(1) (gemm parallelises over its own tiles) and omp_set_num_threads(threads_)
  // for the constructing thread. The kernels do not rely on either: every parallel loop names its team
  // size, so backends with different thread counts can coexist.
  void apply_threads() const;
  // gemm, gemm_bias and gemm_bias_act; k names the kernel in errors. The epilogue: + bias[n] on every
  // row (beta is then 1 on the bias rows), then y = f(C).: + bias[n] on every row (beta is then 1 on the bias rows), then y = f(C).
  struct GemmEpilogue {
    const Tensor* bias = nullptr;
    Activation act = Activation::identity;
    const Tensor* y = nullptr;  // where f(C) goes; nullptr: no activation
  };
  void gemm_impl(const char* k, const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, const Tensor& c,
                 double alpha, double beta, const GemmEpilogue& epilogue);

  int threads_;
};

}  // namespace hpct::kernels
