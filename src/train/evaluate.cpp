#include "train/evaluate.hpp"

#include <numeric>

#include "core/workspace.hpp"
#include "train/batch.hpp"

namespace hpct::train {

std::int64_t output_positions(const nn::Model& model, const data::Dataset& d) {
  return model.spec().per_token() ? d.seq_len : 1;
}

// Every batch's loss goes into one device accumulator and its outputs (as float32) into the host
// array by asynchronous copies; the host waits once, at the end.
Evaluation evaluate(kernels::Backend& be, nn::Model& model, nn::LossKind loss, const data::Dataset& d,
                    std::int64_t batch_size, Workspace* shared_ws) {
  HPCT_CHECK(batch_size > 0, "evaluation batch size must be positive");
  Evaluation ev;
  ev.positions = output_positions(model, d);
  const std::int64_t width = model.spec().out_features * ev.positions;  // floats per sample
  ev.raw.resize(static_cast<std::size_t>(d.n * width));
  std::vector<std::int64_t> index(d.n);
  std::iota(index.begin(), index.end(), 0);
  BatchAssembler batch(be, model.params().dtype());
  Workspace own_ws(be.allocator());
  Workspace& ws = shared_ws ? *shared_ws : own_ws;
  nn::Exec ex{be, ws, nn::Pass{false, 0}};
  nn::ModelContext ctx;
  Buffer acc(be.allocator(), Shape{2}, DType::f64);
  be.fill(acc, 0.0);
  for (std::int64_t begin = 0; begin < d.n; begin += batch_size) {
    const std::int64_t count = std::min(batch_size, d.n - begin);
    ws.reset();
    batch.gather(d, index.data() + begin, count);
    Tensor out = model.forward(ex, batch.input(), ctx);
    if (out.dtype != DType::f32) {  // losses and outputs in float32
      const Tensor out32 = ws.alloc(out.shape, DType::f32);
      be.cast(out, out32);
      out = out32;
    }
    if (!batch.target().empty()) {
      kernels::LossArgs args;
      args.lengths = batch.lengths();
      nn::compute_loss(be, loss, out, batch.target(), Tensor{}, args, acc);
    }
    be.copy(Tensor(ev.raw.data() + begin * width, Shape{count, width}, DType::f32), out.view(Shape{count, width}));
  }
  const std::vector<double> sums = be.read<double>(acc);  // also waits for the output copies
  ev.loss = {sums[0], static_cast<std::int64_t>(sums[1])};
  return ev;
}

}  // namespace hpct::train
