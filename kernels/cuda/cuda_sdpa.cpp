// CudnnSdpa (cuda_sdpa.hpp): cuDNN's fused attention through the frontend's graph API, and the one
// choice (CudaBackend::sdpa_runs) between it and our kernels (cuda_attention.cu). Compiled by the host
// compiler; the frontend's headers are included as system headers here alone (they are built with
// HPCTRAIN_HAVE_CUDNN_FRONTEND, cmake/Cuda.cmake), so nvcc and our warning flags never see them.
#include "kernels/cuda/cuda_sdpa.hpp"

#include <cmath>
#include <cstdlib>
#include <exception>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/error.hpp"
#include "core/log.hpp"
#include "kernels/cuda/cuda_backend.hpp"
#include "kernels/cuda/cuda_check.hpp"
#include "kernels/cuda/cuda_workspace.hpp"

#if HPCTRAIN_HAVE_CUDNN_FRONTEND
#include <cudnn_frontend.h>
#endif

namespace hpct::kernels::cuda {

CudnnSdpa& CudaBackend::cudnn_sdpa() const {
  const std::lock_guard<std::mutex> lock(sdpa_mutex_);
  if (!cudnn_sdpa_) cudnn_sdpa_ = std::make_shared<CudnnSdpa>();
  return *cudnn_sdpa_;
}

bool CudaBackend::sdpa_runs(const Shape& qkv, DType dtype, const AttentionArgs& args) const {
  if (dtype != DType::bf16 && dtype != DType::f16) return false;  // cuDNN's SDPA is 16-bit only
  if (args.dropout_p > 0.0) return false;                          // our Philox stream: our kernels
  if (qkv.rank() != 3 || qkv[2] % 3 != 0 || args.heads < 1 || qkv[2] / 3 % args.heads != 0) return false;
  const std::int64_t dh = qkv[2] / 3 / args.heads;
  // Every head of the fused qkv starts 16-byte aligned when the head width is a multiple of 8 elements.
  if (dh == 0 || dh % 8 != 0 || qkv[0] == 0 || qkv[1] == 0) return false;
  return cudnn_sdpa().available({dtype, qkv[0], qkv[1], args.heads, dh, !args.lengths.empty(), args.causal});
}

// cuDNN's statistics where it runs the call: one f32 logsumexp per query row of each head.
Shape CudaBackend::attention_saved_shape(const Shape& qkv, DType dtype, const AttentionArgs& args) const {
  if (sdpa_runs(qkv, dtype, args)) return Shape{qkv[0], args.heads, qkv[1]};
  return Backend::attention_saved_shape(qkv, dtype, args);
}

DType CudaBackend::attention_saved_dtype(const Shape& qkv, DType dtype, const AttentionArgs& args) const {
  if (sdpa_runs(qkv, dtype, args)) return DType::f32;
  return Backend::attention_saved_dtype(qkv, dtype, args);
}

namespace {

std::string describe(const SdpaProblem& p) {
  return cat("qkv [", p.batch, ", ", p.len, ", 3 x ", p.heads, " x ", p.dh, "] ", name_of(p.dtype),
             p.padded ? ", padded" : "", p.causal ? ", causal" : "");
}

}  // namespace

#if HPCTRAIN_HAVE_CUDNN_FRONTEND

namespace fe = cudnn_frontend;
using TensorPtr = std::shared_ptr<fe::graph::Tensor_attributes>;

namespace {

constexpr bool kHaveFrontend = true;

// Raw pointers for cuDNN's variant pack (which takes void* for inputs too), offset by elements of 16-bit
// data, checked 16-byte aligned (cuDNN's SDPA requires it; the pool's allocations are).
void* at(const void* base, std::int64_t elements, const char* what) {
  auto* p = static_cast<char*>(const_cast<void*>(base)) + elements * 2;
  HPCT_CHECK(reinterpret_cast<std::uintptr_t>(p) % 16 == 0, "cuDNN SDPA: ", what, " at ", static_cast<void*>(p),
             " is not 16-byte aligned (run with HPCTRAIN_CUDNN_SDPA=0)");
  return p;
}

// The variant pack's keys.
enum Uid : std::int64_t { kQ = 1, kK, kV, kO, kStats, kSeqQ, kSeqKv, kDO, kDQ, kDK, kDV };

// [N, H, L, Dh] of a row-major [N, L, width] tensor whose head h starts at column h Dh.
std::vector<std::int64_t> head_dims(const SdpaProblem& p) { return {p.batch, p.heads, p.len, p.dh}; }
std::vector<std::int64_t> head_strides(const SdpaProblem& p, std::int64_t width) {
  return {p.len * width, p.dh, width, 1};
}

TensorPtr input(fe::graph::Graph& g, const char* name, Uid uid, std::vector<std::int64_t> dims,
                std::vector<std::int64_t> strides, fe::DataType_t type) {
  return g.tensor(fe::graph::Tensor_attributes()
                      .set_name(name)
                      .set_uid(uid)
                      .set_dim(std::move(dims))
                      .set_stride(std::move(strides))
                      .set_data_type(type));
}

void output(const TensorPtr& t, Uid uid, std::vector<std::int64_t> dims, std::vector<std::int64_t> strides) {
  t->set_output(true).set_uid(uid).set_dim(std::move(dims)).set_stride(std::move(strides));
}

// Q, K, V (views into qkv) and, when padded, the sequence lengths: what both graphs read.
struct Inputs {
  TensorPtr q, k, v, seq_q, seq_kv;
};

fe::DataType_t io_type(const SdpaProblem& p) {
  return p.dtype == DType::bf16 ? fe::DataType_t::BFLOAT16 : fe::DataType_t::HALF;
}

std::shared_ptr<fe::graph::Graph> new_graph(const SdpaProblem& p, Inputs* in) {
  auto g = std::make_shared<fe::graph::Graph>();
  const fe::DataType_t io = io_type(p);
  g->set_io_data_type(io)
      .set_intermediate_data_type(fe::DataType_t::FLOAT)
      .set_compute_data_type(fe::DataType_t::FLOAT);
  const std::int64_t qkv_width = 3 * p.heads * p.dh;
  in->q = input(*g, "Q", kQ, head_dims(p), head_strides(p, qkv_width), io);
  in->k = input(*g, "K", kK, head_dims(p), head_strides(p, qkv_width), io);
  in->v = input(*g, "V", kV, head_dims(p), head_strides(p, qkv_width), io);
  if (p.padded) {
    in->seq_q = input(*g, "seq_len_q", kSeqQ, {p.batch, 1, 1, 1}, {1, 1, 1, 1}, fe::DataType_t::INT32);
    in->seq_kv = input(*g, "seq_len_kv", kSeqKv, {p.batch, 1, 1, 1}, {1, 1, 1, 1}, fe::DataType_t::INT32);
  }
  return g;
}

// What the forward and backward attributes share: scale 1/sqrt(Dh), the causal band (key j <= query i,
// aligned top-left), the padding mask.
template <class Attrs>
void set_masks(Attrs& a, const SdpaProblem& p, const Inputs& in) {
  a.set_attn_scale(static_cast<float>(1.0 / std::sqrt(static_cast<double>(p.dh))));
  if (p.causal) a.set_diagonal_alignment(fe::DiagonalAlignment_t::TOP_LEFT).set_diagonal_band_right_bound(0);
  if (p.padded) a.set_padding_mask(true).set_seq_len_q(in.seq_q).set_seq_len_kv(in.seq_kv);
}

// Validate, lower, plan from heuristics A, check support and build: "" when all went well, else the
// first failure's message. *workspace: the plan's workspace bytes.
std::string finish(fe::graph::Graph& g, cudnnHandle_t h, std::int64_t* workspace) {
  try {
    fe::error_t e = g.validate();
    if (e.is_good()) e = g.build_operation_graph(h);
    if (e.is_good()) e = g.create_execution_plans({fe::HeurMode_t::A});
    if (e.is_good()) e = g.check_support(h);
    if (e.is_good()) e = g.build_plans(h);
    if (e.is_good()) e = g.get_workspace_size(*workspace);
    return e.is_good() ? std::string() : e.get_message();
  } catch (const std::exception& ex) {
    return ex.what();
  }
}

}  // namespace

struct CudnnSdpa::Graphs {
  std::shared_ptr<fe::graph::Graph> fwd, bwd;
  std::int64_t fwd_workspace = 0, bwd_workspace = 0;
  std::int32_t* seq_q = nullptr;  // padded: [N] copies of L on the device (every query row is valid)

  Graphs() = default;
  ~Graphs() {
    if (seq_q) HPCT_CUDA_WARN(cudaFree(seq_q));
  }
  Graphs(const Graphs&) = delete;
  Graphs& operator=(const Graphs&) = delete;

  // Both graphs of p, or the reason in *why (and false).
  bool build(const SdpaProblem& p, cudnnHandle_t h, std::string* why) {
    Inputs in;
    fwd = new_graph(p, &in);
    fe::graph::SDPA_attributes fa;
    fa.set_name("attention_forward").set_generate_stats(true);
    set_masks(fa, p, in);
    const auto fout = fwd->sdpa(in.q, in.k, in.v, fa);  // O, Stats
    const std::int64_t d = p.heads * p.dh;
    output(fout[0], kO, head_dims(p), head_strides(p, d));
    output(fout[1], kStats, {p.batch, p.heads, p.len, 1}, {p.heads * p.len, p.len, 1, 1});
    fout[1]->set_data_type(fe::DataType_t::FLOAT);
    *why = finish(*fwd, h, &fwd_workspace);
    if (!why->empty()) return false;

    Inputs bin;
    bwd = new_graph(p, &bin);
    const TensorPtr o = input(*bwd, "O", kO, head_dims(p), head_strides(p, d), io_type(p));
    const TensorPtr dout = input(*bwd, "dO", kDO, head_dims(p), head_strides(p, d), io_type(p));
    const TensorPtr stats = input(*bwd, "Stats", kStats, {p.batch, p.heads, p.len, 1},
                                  {p.heads * p.len, p.len, 1, 1}, fe::DataType_t::FLOAT);
    fe::graph::SDPA_backward_attributes ba;
    ba.set_name("attention_backward").set_deterministic_algorithm(true);
    set_masks(ba, p, bin);
    const auto grads = bwd->sdpa_backward(bin.q, bin.k, bin.v, o, dout, stats, ba);  // dQ, dK, dV
    const std::int64_t qkv_width = 3 * d;
    output(grads[0], kDQ, head_dims(p), head_strides(p, qkv_width));
    output(grads[1], kDK, head_dims(p), head_strides(p, qkv_width));
    output(grads[2], kDV, head_dims(p), head_strides(p, qkv_width));
    *why = finish(*bwd, h, &bwd_workspace);
    if (!why->empty()) return false;

    if (p.padded) {
      const std::vector<std::int32_t> lens(static_cast<std::size_t>(p.batch), static_cast<std::int32_t>(p.len));
      HPCT_CUDA_CHECK(cudaMalloc(&seq_q, lens.size() * sizeof(std::int32_t)));
      HPCT_CUDA_CHECK(cudaMemcpy(seq_q, lens.data(), lens.size() * sizeof(std::int32_t), cudaMemcpyHostToDevice));
    }
    return true;
  }

  // Runs g on s with the pointers of pack.
  void run(const fe::graph::Graph& g, std::int64_t workspace, std::unordered_map<std::int64_t, void*>& pack,
           cudnnHandle_t h, cudaStream_t s, const char* what) const {
    HPCT_CUDNN_CHECK(cudnnSetStream(h, s));
    const Workspace ws(static_cast<std::size_t>(workspace), s);
    fe::error_t e = g.execute(h, pack, ws.p);
    HPCT_CHECK(e.is_good(), "cuDNN SDPA ", what, ": ", e.get_message());
  }
};

void CudnnSdpa::forward(const SdpaProblem& p, const void* qkv, void* out, float* stats, const std::int32_t* lengths,
                        cudaStream_t s) {
  const std::lock_guard<std::mutex> lock(mutex_);
  const Graphs& g = graphs_of(p);
  const std::int64_t d = p.heads * p.dh;
  std::unordered_map<std::int64_t, void*> pack{{kQ, at(qkv, 0, "Q")},       {kK, at(qkv, d, "K")},
                                               {kV, at(qkv, 2 * d, "V")},   {kO, at(out, 0, "out")},
                                               {kStats, static_cast<void*>(stats)}};
  if (p.padded) {
    pack[kSeqQ] = g.seq_q;
    pack[kSeqKv] = const_cast<std::int32_t*>(lengths);
  }
  g.run(*g.fwd, g.fwd_workspace, pack, handle_, s, "forward");
}

void CudnnSdpa::backward(const SdpaProblem& p, const void* qkv, const void* out, const float* stats, const void* dout,
                         void* dqkv, const std::int32_t* lengths, cudaStream_t s) {
  const std::lock_guard<std::mutex> lock(mutex_);
  const Graphs& g = graphs_of(p);
  const std::int64_t d = p.heads * p.dh;
  // Masked keys get dK = dV = 0: whatever cuDNN skips of them stays zero.
  if (p.padded) HPCT_CUDA_CHECK(cudaMemsetAsync(dqkv, 0, static_cast<std::size_t>(p.batch * p.len * 3 * d) * 2, s));
  std::unordered_map<std::int64_t, void*> pack{
      {kQ, at(qkv, 0, "Q")},          {kK, at(qkv, d, "K")},           {kV, at(qkv, 2 * d, "V")},
      {kO, at(out, 0, "out")},        {kDO, at(dout, 0, "dout")},      {kStats, const_cast<float*>(stats)},
      {kDQ, at(dqkv, 0, "dQ")},       {kDK, at(dqkv, d, "dK")},        {kDV, at(dqkv, 2 * d, "dV")}};
  if (p.padded) {
    pack[kSeqQ] = g.seq_q;
    pack[kSeqKv] = const_cast<std::int32_t*>(lengths);
  }
  g.run(*g.bwd, g.bwd_workspace, pack, handle_, s, "backward");
}

#else  // built without the frontend's headers: never enabled, so never asked to run

namespace {
constexpr bool kHaveFrontend = false;
}  // namespace

struct CudnnSdpa::Graphs {
  bool build(const SdpaProblem&, cudnnHandle_t, std::string* why) {
    *why = "built without the cuDNN frontend headers";
    return false;
  }
};

void CudnnSdpa::forward(const SdpaProblem& p, const void*, void*, float*, const std::int32_t*, cudaStream_t) {
  HPCT_CHECK(false, "cuDNN SDPA forward of ", describe(p), ": built without the cuDNN frontend headers");
}

void CudnnSdpa::backward(const SdpaProblem& p, const void*, const void*, const float*, const void*, void*,
                         const std::int32_t*, cudaStream_t) {
  HPCT_CHECK(false, "cuDNN SDPA backward of ", describe(p), ": built without the cuDNN frontend headers");
}

#endif

namespace {
bool switched_off() {
  const char* env = std::getenv("HPCTRAIN_CUDNN_SDPA");
  return env && std::string(env) == "0";
}
}  // namespace

std::string sdpa_report() {
#if HPCTRAIN_HAVE_CUDNN_FRONTEND
  return cat("cuDNN SDPA: frontend ", CUDNN_FRONTEND_MAJOR_VERSION, ".", CUDNN_FRONTEND_MINOR_VERSION, ".",
             CUDNN_FRONTEND_PATCH_VERSION, switched_off() ? ", off: HPCTRAIN_CUDNN_SDPA=0" : "");
#else
  return "cuDNN SDPA: not built (no cuDNN frontend headers at build time; our attention kernels run every call)";
#endif
}

CudnnSdpa::CudnnSdpa() {
  enabled_ = kHaveFrontend && !switched_off();
  if (enabled_) HPCT_CUDNN_CHECK(cudnnCreate(&handle_));
}

CudnnSdpa::~CudnnSdpa() {
  graphs_.clear();  // the plans before the handle they were built on
  if (handle_) HPCT_CUDNN_WARN(cudnnDestroy(handle_));
}

bool CudnnSdpa::available(const SdpaProblem& p) {
  if (!enabled_) return false;
  const std::lock_guard<std::mutex> lock(mutex_);
  auto it = graphs_.find(p);
  if (it == graphs_.end()) {
    std::string why;
    auto g = std::make_unique<Graphs>();
    if (!g->build(p, handle_, &why)) g.reset();
    if (!g && !warned_) {
      log::warn(cat("cuDNN SDPA cannot run attention on ", describe(p), " (", why,
                    "): our attention kernels run it, and any other problem cuDNN cannot run, without further "
                    "warnings"));
      warned_ = true;
    }
    it = graphs_.emplace(p, std::move(g)).first;
  }
  return it->second != nullptr;
}

CudnnSdpa::Graphs& CudnnSdpa::graphs_of(const SdpaProblem& p) {
  const auto it = graphs_.find(p);
  HPCT_CHECK(it != graphs_.end() && it->second, "cuDNN SDPA: ", describe(p), " was not found runnable (call available() first)");
  return *it->second;
}

}  // namespace hpct::kernels::cuda
