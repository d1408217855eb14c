#include "train/evaluate.hpp"

#include <numeric>

#include "train/batch.hpp"

namespace hpct::train {

std::int64_t output_positions(const nn::Model& model, const data::Dataset& d) {
  return model.spec().per_token() ? d.seq_len : 1;
}

Evaluation evaluate(kernels::Backend& be, nn::Model& model, nn::LossKind loss, const data::Dataset& d,
                    std::int64_t batch_size) {
  HPCT_CHECK(batch_size > 0, "evaluation batch size must be positive");
  Evaluation ev;
  ev.positions = output_positions(model, d);
  const std::int64_t width = model.spec().out_features * ev.positions;  // floats per sample
  ev.raw.resize(static_cast<std::size_t>(d.n * width));
  std::vector<std::int64_t> index(d.n);
  std::iota(index.begin(), index.end(), 0);
  BatchAssembler batch(be, model.params().dtype());
  for (std::int64_t begin = 0; begin < d.n; begin += batch_size) {
    const std::int64_t count = std::min(batch_size, d.n - begin);
    batch.gather(d, index.data() + begin, count);
    const Tensor out = model.forward(be, batch.input(), nn::Pass{false, 0});
    if (!batch.target().empty()) {
      const nn::LossValue lv = nn::compute_loss(be, loss, out, batch.target(), Tensor{}, 1.0, batch.lengths_or_null());
      ev.loss.sum += lv.sum;
      ev.loss.count += lv.count;
    }
    be.copy(Tensor(ev.raw.data() + begin * width, Shape{count, width}, DType::f32), out);
  }
  return ev;
}

}  // namespace hpct::train
