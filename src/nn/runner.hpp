#pragma once
// A model with the memory of its passes, for callers that run one pass at a time (evaluation,
// sampling, tools, tests): a workspace and a context. forward() starts a new pass (the workspace is
// reset, so earlier outputs are invalid); backward() runs on the last forward's context.
#include "nn/model.hpp"

namespace hpct::nn {

class Runner {
 public:
  Runner(kernels::Backend& be, Model& model) : be_(be), model_(model), ws_(be.allocator()) {}
  Tensor forward(const ModelInput& in, Pass pass = {}) {
    ws_.reset();
    pass_ = pass;
    Exec ex{be_, ws_, pass_};
    return model_.forward(ex, in, ctx_);
  }
  Tensor forward(const Tensor& x, Pass pass = {}) { return forward(ModelInput{x, {}, {}}, pass); }
  void backward(const Tensor& doutput) {
    Exec ex{be_, ws_, pass_};
    model_.backward(ex, ctx_, doutput);
  }
  // Scratch memory of the current pass (e.g. for the output's gradient).
  Tensor alloc(Shape shape, DType dtype) { return ws_.alloc(shape, dtype); }
  Model& model() { return model_; }

 private:
  kernels::Backend& be_;
  Model& model_;
  Workspace ws_;
  ModelContext ctx_;
  Pass pass_;
};

}  // namespace hpct::nn
