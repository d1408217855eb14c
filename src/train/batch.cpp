#include "train/batch.hpp"

namespace hpct::train {
namespace {

// A host view of a data set array, converted to the model dtype when that is not float32.
Tensor host_view(const std::vector<float>& v, std::int64_t rows, std::int64_t cols) {
  return {const_cast<float*>(v.data()), Shape{rows, cols}, DType::f32};
}

}  // namespace

void BatchAssembler::gather(const data::Dataset& d, const std::int64_t* index, std::int64_t count) {
  HPCT_CHECK(dtype_ == DType::f32, "batches in ", name_of(dtype_), " are not supported yet");
  x_ = xb_.ensure(be_.allocator(), Shape{count, d.features}, DType::f32);
  be_.gather_rows(host_view(d.x, d.n, d.features), index, count, x_);
  if (d.task == data::Task::classification && !d.labels.empty()) {
    target_ = yb_.ensure(be_.allocator(), Shape{count}, DType::i32);
    const Tensor labels(const_cast<std::int32_t*>(d.labels.data()), Shape{d.n, 1}, DType::i32);
    be_.gather_rows(labels, index, count, target_.view(Shape{count, 1}));
  } else if (!d.y.empty()) {
    target_ = yb_.ensure(be_.allocator(), Shape{count, d.targets}, DType::f32);
    be_.gather_rows(host_view(d.y, d.n, d.targets), index, count, target_);
  } else {
    target_ = Tensor{};
  }
}

}  // namespace hpct::train
