#pragma once
// The CPU backend: OpenBLAS for gemm, OpenMP loops for everything else; float32 and float64 kernels,
// bf16 and f16 storage through widened f32 copies (cpu_widen.hpp). Synchronous: every op runs inline
// on the calling thread, whatever the stream. Arguments arrive validated (kernels/backend.cpp); the
// *_impl methods check only values in device memory (ids, labels, lengths, indices, the step count).
//
// The asynchronous CPU backend derives from this class and runs the same *_impl on worker threads.
//
// The methods are defined one concern per file: cpu_backend.cpp (threads, streams, memory, cast, gemm),
// cpu_elementwise.cpp (bias, activations, dropout), cpu_norm.cpp (layernorm, softmax), cpu_loss.cpp,
// cpu_optim.cpp (flat-range operations, step control, loss scaling, optimizer steps), cpu_attention.cpp
// (fused multi-head attention), cpu_embedding.cpp (token embedding, feature tokens), cpu_pool.cpp
// (masked mean pooling), cpu_conv.cpp (1-D convolutions).
#include <cstdint>
#include <memory>
#include <string>

#include "kernels/cpu/cpu_stream.hpp"
#include "kernels/cpu/cpu_widen.hpp"
#include "kernels/kernels.hpp"

namespace hpct::kernels {

// Ranks of this job on this node, from the launcher's environment: OMPI_COMM_WORLD_LOCAL_SIZE
// (Open MPI), else MPI_LOCALNRANKS (MPICH, Intel MPI), else SLURM_NTASKS_PER_NODE (its leading
// integer: "4(x2)" is 4), else 1.
int ranks_on_node();

// The thread count make_cpu_backend(0) uses: OMP_NUM_THREADS when it is set to a positive integer,
// else max(1, cores / ranks_on_node()), cores being the hardware threads this process may run on.
int default_cpu_threads();

class CpuBackend : public Backend {
 public:
  // threads <= 0 picks default_cpu_threads().
  explicit CpuBackend(int threads = 0);

  std::string name() const override { return "cpu"; }
  Device device() const override { return {}; }
  Allocator& allocator() override { return host_allocator(); }
  int threads() const override { return threads_; }

  std::unique_ptr<Stream> create_stream() override;
  std::unique_ptr<Event> create_event() override;
  // Nothing is in flight; counted as a host wait like every backend's.
  void synchronize() override { count_host_sync(); }

 protected:
  void copy_impl(const Tensor& dst, const Tensor& src) override;
  void fill_impl(const Tensor& t, double value) override;
  void cast_impl(const Tensor& src, const Tensor& dst) override;
  void gather_rows_impl(const Tensor& src, const Tensor& index, const Tensor& out) override;
  void gemm_impl(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, const Tensor& c, double alpha,
                 double beta, const GemmEpilogue& epilogue) override;
  void bias_add_impl(const Tensor& y, const Tensor& bias) override;
  void bias_grad_impl(const Tensor& dy, const Tensor& dbias) override;
  void axpy_impl(double alpha, const Tensor& x, const Tensor& y) override;
  void scale_impl(const Tensor& x, double alpha) override;
  void sum_squares_impl(const Tensor& x, const Tensor& out) override;
  void checksum_impl(const Tensor& x, const Tensor& out) override;
  void activation_forward_impl(Activation f, const Tensor& x, const Tensor& y) override;
  void activation_backward_impl(Activation f, const Tensor& x, const Tensor& dy, const Tensor& dx) override;
  void activation_bias_grad_impl(Activation f, const Tensor& x, const Tensor& dy, const Tensor& dx,
                                 const Tensor& dbias) override;
  void dropout_forward_impl(const Tensor& x, const Tensor& y, double p, std::uint64_t seed,
                            std::uint64_t stream, const Tensor& row_ids) override;
  void dropout_backward_impl(const Tensor& dy, const Tensor& dx, double p, std::uint64_t seed,
                             std::uint64_t stream, const Tensor& row_ids) override;
  void layernorm_forward_impl(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& y,
                              const Tensor& mean, const Tensor& rstd, double eps) override;
  void layernorm_backward_impl(const Tensor& x, const Tensor& gamma, const Tensor& mean, const Tensor& rstd,
                               const Tensor& dy, const Tensor& dx, const Tensor& dgamma, const Tensor& dbeta) override;
  void softmax_forward_impl(const Tensor& x, const Tensor& y) override;
  void softmax_backward_impl(const Tensor& y, const Tensor& dy, const Tensor& dx) override;
  void attention_forward_impl(const Tensor& qkv, const Tensor& out, const Tensor& saved,
                              const AttentionArgs& args) override;
  void attention_backward_impl(const Tensor& qkv, const Tensor& out, const Tensor& saved, const Tensor& dout,
                               const Tensor& dqkv, const AttentionArgs& args) override;
  void embedding_forward_impl(const Tensor& ids, const Tensor& table, const Tensor& out) override;
  void embedding_backward_impl(const Tensor& ids, const Tensor& dout, const Tensor& dtable) override;
  void feature_tokens_forward_impl(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& out) override;
  void feature_tokens_backward_impl(const Tensor& x, const Tensor& w, const Tensor& dout, const Tensor& dx,
                                    const Tensor& dw, const Tensor& db) override;
  void mean_pool_forward_impl(const Tensor& x, const Tensor& lengths, const Tensor& out) override;
  void mean_pool_backward_impl(const Tensor& dout, const Tensor& lengths, const Tensor& dx) override;
  void conv1d_forward_impl(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y,
                           const Conv1dGeom& g) override;
  void conv1d_backward_data_impl(const Tensor& dy, const Tensor& w, const Tensor& bias, const Tensor& dx,
                                 const Conv1dGeom& g) override;
  void conv1d_backward_filter_impl(const Tensor& x, const Tensor& dy, const Tensor& dw, const Tensor& dbias,
                                   const Conv1dGeom& g) override;
  void class_concat_forward_impl(const Tensor& a, std::int64_t classes, bool expand, const Tensor& out) override;
  void class_concat_backward_impl(const Tensor& dout, std::int64_t classes, bool expand, const Tensor& da) override;
  void normal_fill_impl(const Tensor& out, std::uint64_t seed, std::uint64_t stream,
                        const Tensor& row_ids) override;
  void reparam_forward_impl(const Tensor& enc, const Tensor& eps, const Tensor& z) override;
  void reparam_backward_impl(const Tensor& enc, const Tensor& eps, const Tensor& dz, const Tensor& denc) override;
  void ssvae_objective_impl(const Tensor& x, const Tensor& logits, const Tensor& labels, const Tensor& enc,
                            const Tensor& recon, const SsvaeArgs& ssvae, const LossArgs& args, const Tensor& acc,
                            const Tensor& dlogits, const Tensor& denc, const Tensor& drecon) override;
  void float_loss_impl(FloatLoss kind, const Tensor& pred, const Tensor& target, const Tensor& dpred,
                       const LossArgs& args, const Tensor& acc) override;
  void softmax_ce_loss_impl(const Tensor& logits, const Tensor& labels, const Tensor& dlogits, const LossArgs& args,
                            const Tensor& acc) override;
  void scale_by_impl(const Tensor& x, const Tensor& factor) override;
  void step_control_impl(const StepControlArgs& args, const Tensor& count, const Tensor& sumsq,
                         const Tensor& loss_scale, const Tensor& control) override;
  void update_loss_scale_impl(const LossScaleArgs& args, const Tensor& control, const Tensor& state) override;
  void adamw_step_impl(const Tensor& params, const Tensor& master, const Tensor& grads, const Tensor& m,
                       const Tensor& v, const AdamWParams& hp, const Tensor& control) override;
  void sgd_step_impl(const Tensor& params, const Tensor& master, const Tensor& grads, const Tensor& momentum_buf,
                     const SgdParams& hp, const Tensor& control) override;

  // The team size of every parallel loop (each loop names it, so backends with different thread
  // counts coexist).
  int threads_;

 private:
  // openblas_set_num_threads(1) (gemm parallelises over its own tiles) and omp_set_num_threads(threads_)
  // for the constructing thread.
  void apply_threads() const;
  // Runs f on f32 copies when one of args is 16-bit (cpu_widen.hpp); false otherwise.
  template <class F, class... W>
  bool widened(F&& f, const W&... args) {
    return cpu::widen16(scratch_, threads_, std::forward<F>(f), args...);
  }

  cpu::ScratchPool scratch_;
  cpu::CpuStream stream_;
};

}  // namespace hpct::kernels
