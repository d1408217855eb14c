#pragma once
// A layer with explicit forward and backward (no autograd tape). forward() computes y = f(x) and
// saves what backward needs in a Context it fills; backward() receives that Context and dL/dy,
// accumulates dL/dparams into the ParameterStore's flat gradient buffer and returns dL/dx. Layers
// hold parameters (ids into the store) and hyper-parameters only, never the state of a pass, so a
// model can have several passes in flight (a training step and an evaluation, or micro-batches).
// Outputs, saved tensors and gradients are carved from the step's Workspace: nothing is allocated
// once the workspace is sized, and every op is enqueued on the backend's current stream.
#include <cstdint>
#include <memory>
#include <string>

#include "core/workspace.hpp"
#include "kernels/kernels.hpp"
#include "params/parameter_store.hpp"

namespace hpct::nn {

// The flat parameter store lives below nn (optim and parallel use it too); layers name it unqualified.
using params::Init;
using params::ParamId;
using params::ParameterStore;

// What a forward pass is for: training (dropout on) or evaluation, and what selects the dropout masks
// (and the ssvae's noise): the micro-step (the Philox stream, with the layer) and the data-set row of
// each batch row (the counters within it, Backend::dropout_forward's row keys). Keying by data-set row,
// not batch position, is what lets N DDP ranks of batch B reproduce one process of batch N B: both
// count the same micro-steps (one per micro-batch each, from the same checkpointed counter) and see
// every data-set row at most once per micro-step, so (micro-step, layer, row) names one mask row.
struct Pass {
  bool training = false;
  std::uint64_t step = 0;
  Tensor row_ids{};  // i64 [N] on the device, the batch's data-set rows; empty: keyed by batch position
};

// Where a forward or backward runs: the backend (ops go to its current stream), the workspace of the
// step, and the pass.
struct Exec {
  kernels::Backend& be;
  Workspace& ws;
  Pass pass;
  Tensor alloc(Shape shape, DType dtype) { return ws.alloc(shape, dtype); }
};

// What one forward saved for its backward: views into the step's workspace and small values. Each
// layer defines its own (opaque to everyone else); a slot is filled by forward and reused by the next
// forward of the same layer, so a step allocates no contexts after the first.
struct Context {
  virtual ~Context() = default;
};
using ContextSlot = std::unique_ptr<Context>;

// The layer's context of type C in `slot`, created on first use.
template <class C>
C& make_context(ContextSlot& slot) {
  if (!slot) slot = std::make_unique<C>();
  return static_cast<C&>(*slot);
}
template <class C>
const C& context_of(const ContextSlot& slot) {
  HPCT_CHECK(slot != nullptr, "backward without a forward: the layer's context is empty");
  return static_cast<const C&>(*slot);
}

class Layer {
 public:
  virtual ~Layer() = default;
  virtual Tensor forward(Exec& ex, const Tensor& x, ContextSlot& ctx) = 0;
  virtual Tensor backward(Exec& ex, const ContextSlot& ctx, const Tensor& dy) = 0;
  virtual std::string describe() const = 0;  // e.g. "Linear(7 -> 13)"
};

}  // namespace hpct::nn
