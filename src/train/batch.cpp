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

void BatchAssembler::upload(const data::HostBatch& b, std::int64_t width) {
  HPCT_CHECK(dtype_ == DType::f32, "batches in ", name_of(dtype_), " are not supported yet");
  auto host = [](const auto& v, Shape s, DType t) { return Tensor(const_cast<void*>(static_cast<const void*>(v.data())), s, t); };
  x_ = xb_.ensure(be_.allocator(), Shape{b.rows, width}, DType::f32);
  be_.copy(x_, host(b.x, x_.shape, DType::f32));
  if (!b.labels.empty()) {
    target_ = yb_.ensure(be_.allocator(), Shape{b.rows}, DType::i32);
    be_.copy(target_, host(b.labels, target_.shape, DType::i32));
  } else if (!b.y.empty()) {
    target_ = yb_.ensure(be_.allocator(), Shape{b.rows, static_cast<std::int64_t>(b.y.size()) / b.rows}, DType::f32);
    be_.copy(target_, host(b.y, target_.shape, DType::f32));
  } else {
    target_ = Tensor{};
  }
}

}  // namespace hpct::train
