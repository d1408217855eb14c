#pragma once
// ParameterStore: every parameter of a model in one flat buffer, every gradient in another, with
// named views (PyTorch state_dict names). DDP buckets, ZeRO shards, clipping, checkpoints and the
// fused optimizers are loops over flat ranges of these two buffers.
//
// Mixed precision: the store's dtype is the compute dtype (f32, bf16, f16; f64 in the finite-difference
// tests). Parameters and gradients are in it; with a 16-bit dtype the store also keeps fp32 master
// weights, which the optimizer updates (writing the 16-bit copy in the same pass) and checkpoints
// save.
//
// Two phases: layers add() their parameters while the model is built, then finalize() allocates
// the buffers and initialises the parameters. Each parameter starts on a 64-byte boundary (16
// floats) so vector loads never straddle two parameters; the padding stays zero.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/buffer.hpp"
#include "kernels/kernels.hpp"

namespace hpct::params {

// How a parameter starts: U(-bound, bound), N(0, std^2), or a constant.
struct Init {
  enum class Kind { uniform, constant, normal } kind = Kind::constant;
  double value = 0.0;  // the constant, the uniform bound, or the standard deviation
  static Init uniform(double bound) { return {Kind::uniform, bound}; }
  static Init constant(double v) { return {Kind::constant, v}; }
  static Init normal(double std) { return {Kind::normal, std}; }
};

struct ParamInfo {
  std::string name;
  Shape shape;
  Init init;
  std::int64_t offset = 0;  // element offset in the flat buffers
};

using ParamId = int;

class ParameterStore {
 public:
  explicit ParameterStore(DType dtype = DType::f32) : dtype_(dtype) {}

  ParamId add(const std::string& name, Shape shape, Init init);
  // Allocates both buffers on the backend and draws every parameter from its Init with Philox:
  // element i of parameter p is philox_uniform(seed, p, i), so initialisation is reproducible on
  // any backend. A normal element i is Box-Muller of u1 = philox_uniform(seed, p, 2i) and
  // u2 = philox_uniform(seed, p, 2i + 1): std * sqrt(-2 ln(1 - u1)) cos(2 pi u2). Gradients start at zero.
  void finalize(kernels::Backend& backend, std::uint64_t seed);
  bool finalized() const { return finalized_; }

  Tensor param(ParamId id) const { return view(params_, id); }
  // The fp32 master weights with a 16-bit dtype, else empty.
  const Tensor& flat_master() const { return master_.tensor(); }
  // The weights at full precision: the master copy, or the parameters themselves (f32, f64). What a
  // checkpoint saves and loads.
  const Tensor& flat_weights() const { return has_master() ? master_.tensor() : params_.tensor(); }
  bool has_master() const { return is_half(dtype_); }
  // ZeRO-1 (optim/zero_optimizer.hpp) keeps the master weights in shards between the points that read
  // them whole: drop_master() frees the store's copy (flat_master() and flat_weights() are then empty
  // for a 16-bit store), restore_master() allocates it again for a gather to fill.
  void drop_master() { master_ = Buffer(); }
  void restore_master(kernels::Backend& backend);
  // After flat_weights() changed (a checkpoint was loaded into it): the compute copy follows.
  void weights_changed(kernels::Backend& backend);
  Tensor grad(ParamId id) const { return view(grads_view_, id); }
  const Tensor& flat_params() const { return params_.tensor(); }
  const Tensor& flat_grads() const { return grads_view_; }
  // Moves the gradients into `memory` (flat_size() elements of the store's dtype, e.g. memory a
  // communicator reduces without copies) and points every gradient view there; an empty tensor moves
  // them back into the store's own buffer. Layers look their gradient views up on every backward,
  // so they follow.
  void place_grads(kernels::Backend& backend, const Tensor& memory);
  const std::vector<ParamInfo>& entries() const { return entries_; }
  std::optional<ParamId> find(const std::string& name) const;
  DType dtype() const { return dtype_; }
  std::int64_t flat_size() const { return flat_size_; }    // elements, padding included
  std::int64_t count() const;                               // elements, padding excluded

  void zero_grads(kernels::Backend& backend) { backend.fill(grads_view_, 0.0); }

 private:
  Tensor view(const Tensor& flat, ParamId id) const;

  DType dtype_;
  std::vector<ParamInfo> entries_;
  std::int64_t flat_size_ = 0;
  bool finalized_ = false;
  Buffer params_, grads_, master_;
  Tensor grads_view_;  // grads_, or memory given to place_grads
};

}  // namespace hpct::params
