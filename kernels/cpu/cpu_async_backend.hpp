#pragma once
// The asynchronous CPU backend ("cpu-async"): the CPU kernels, run the way a GPU runs them. Its purpose
// is to prove that the rest of the program is correct on an asynchronous device; it is not a fast path.
//
// - Every *_impl of CpuBackend is enqueued on the current stream (Backend::stream()) as a closure
//   holding copies of its arguments (Tensors are views; the structs are copied by value) and returns at
//   once. The closure later calls CpuBackend's *_impl on the stream's worker thread.
// - Each stream is one worker thread with a FIFO of closures: ops of a stream run in enqueue order, on
//   another thread, later than the call. Streams are independent; Stream::wait(Event) orders them.
// - Its memory is DeviceKind::cpu_async: host memory that the program may only touch through kernels
//   (Tensor::as throws on it; Backend::read_to_host copies and waits). New memory is poisoned with
//   0xFF bytes (NaN in every float dtype, -1 in every integer one), so code that relies on zeroed or
//   stale memory fails loudly.
// - An exception thrown by an op is captured on the worker (the first one per stream); the stream's
//   later ops are skipped until the error has been reported, like CUDA's sticky errors. It is rethrown
//   as hpct::Error with the op's message by the next host wait that covers it: Stream::synchronize of
//   that stream, Event::synchronize of an event recorded on it after the op, Backend::synchronize (and
//   read_to_host, which ends in a stream synchronize). A stream or backend wait that reports the error
//   clears it, so the stream runs ops again afterwards. A stream that waits (Stream::wait) on an event
//   whose stream had failed takes the error over: its own later ops depended on the failed work.
// - Stream::launch_host runs its function on the stream's worker, in stream order, as an op. Inside
//   an op or host function, backend ops called there run at once (part of it, in its stream's order),
//   host waits (synchronize) are refused, memory freed is freed at once, and streams must not be
//   created or destroyed.
// - Destroying the backend runs every queued op to completion and joins the workers.
#include <memory>
#include <string>

#include "kernels/cpu/cpu_backend.hpp"

namespace hpct::kernels {

namespace async_detail {
struct Core;
class AsyncStream;
class AsyncEvent;
}  // namespace async_detail

class CpuAsyncBackend final : public CpuBackend {
 public:
  // threads <= 0 picks default_cpu_threads(); each stream's ops use OpenMP teams of this size.
  explicit CpuAsyncBackend(int threads = 0);
  // Drains every stream of the backend, then joins the default stream's worker.
  ~CpuAsyncBackend() override;

  std::string name() const override { return "cpu-async"; }
  Device device() const override { return {DeviceKind::cpu_async, 0}; }
  Allocator& allocator() override;

  std::unique_ptr<Stream> create_stream() override;
  std::unique_ptr<Event> create_event() override;
  // Waits for every stream of this backend (one host sync); rethrows the earliest unreported error.
  void synchronize() override;

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

 private:
  friend struct async_detail::Core;
  friend class async_detail::AsyncStream;
  friend class async_detail::AsyncEvent;
  // Enqueues f on the current stream.
  template <class F>
  void enqueue(F&& f);
  // Backend::count_host_sync for the streams and events of this backend (counts on the owning thread).
  void note_host_sync() { count_host_sync(); }

  std::shared_ptr<async_detail::Core> core_;  // the streams' registry; outlives the backend if a stream does
  std::unique_ptr<async_detail::AsyncStream> default_;
};

}  // namespace hpct::kernels
