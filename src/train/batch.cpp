#include "train/batch.hpp"

namespace hpct::train {
namespace {

// A host view of a data set array, converted to the model dtype when that is not float32.
Tensor host_view(const std::vector<float>& v, std::int64_t rows, std::int64_t cols) {
  return {const_cast<float*>(v.data()), Shape{rows, cols}, DType::f32};
}

Tensor host_view(const std::vector<std::int32_t>& v, std::int64_t rows, std::int64_t cols) {
  return {const_cast<std::int32_t*>(v.data()), Shape{rows, cols}, DType::i32};
}

// Batch shapes: x [rows, F] or [rows, L, F]; targets [rows, T] / [rows] or per token [rows, L, T] /
// [rows, L].
Shape x_shape(std::int64_t rows, std::int64_t seq_len, std::int64_t width) {
  return seq_len > 0 ? Shape{rows, seq_len, width / seq_len} : Shape{rows, width};
}
Shape y_shape(std::int64_t rows, std::int64_t positions, bool per_token, std::int64_t targets) {
  return per_token ? Shape{rows, positions, targets} : Shape{rows, targets};
}
Shape label_shape(std::int64_t rows, std::int64_t positions, bool per_token) {
  return per_token ? Shape{rows, positions} : Shape{rows};
}

}  // namespace

void BatchAssembler::gather(const data::Dataset& d, const std::int64_t* index, std::int64_t count) {
  HPCT_CHECK(dtype_ == DType::f32, "batches in ", name_of(dtype_), " are not supported yet");
  const std::int64_t width = d.row_width(), P = d.target_positions();
  if (width > 0) {
    x_ = xb_.ensure(be_.allocator(), x_shape(count, d.seq_len, width), DType::f32);
    be_.gather_rows(host_view(d.x, d.n, width), index, count, x_.view(Shape{count, width}));
  } else {
    x_ = Tensor{};
  }
  if (!d.tokens.empty()) {
    tokens_ = tb_.ensure(be_.allocator(), Shape{count, d.seq_len}, DType::i32);
    be_.gather_rows(host_view(d.tokens, d.n, d.seq_len), index, count, tokens_);
  } else {
    tokens_ = Tensor{};
  }
  lengths_.clear();
  if (d.is_sequence())
    for (std::int64_t i = 0; i < count; ++i) lengths_.push_back(static_cast<std::int32_t>(d.length(index[i])));
  if (d.task == data::Task::classification && !d.labels.empty()) {
    target_ = yb_.ensure(be_.allocator(), label_shape(count, P, d.token_targets), DType::i32);
    be_.gather_rows(host_view(d.labels, d.n, P), index, count, target_.view(Shape{count, P}));
  } else if (!d.y.empty()) {
    target_ = yb_.ensure(be_.allocator(), y_shape(count, P, d.token_targets, d.targets), DType::f32);
    be_.gather_rows(host_view(d.y, d.n, P * d.targets), index, count, target_.view(Shape{count, P * d.targets}));
  } else {
    target_ = Tensor{};
  }
}

void BatchAssembler::upload(const data::HostBatch& b, std::int64_t width) {
  HPCT_CHECK(dtype_ == DType::f32, "batches in ", name_of(dtype_), " are not supported yet");
  auto host = [](const auto& v, Shape s, DType t) { return Tensor(const_cast<void*>(static_cast<const void*>(v.data())), s, t); };
  const std::int64_t P = b.token_targets ? b.seq_len : 1;
  if (width > 0) {
    x_ = xb_.ensure(be_.allocator(), x_shape(b.rows, b.seq_len, width), DType::f32);
    be_.copy(x_, host(b.x, x_.shape, DType::f32));
  } else {
    x_ = Tensor{};
  }
  if (!b.tokens.empty()) {
    tokens_ = tb_.ensure(be_.allocator(), Shape{b.rows, b.seq_len}, DType::i32);
    be_.copy(tokens_, host(b.tokens, tokens_.shape, DType::i32));
  } else {
    tokens_ = Tensor{};
  }
  lengths_ = b.lengths;
  if (!b.labels.empty()) {
    target_ = yb_.ensure(be_.allocator(), label_shape(b.rows, P, b.token_targets), DType::i32);
    be_.copy(target_, host(b.labels, target_.shape, DType::i32));
  } else if (!b.y.empty()) {
    const auto t = static_cast<std::int64_t>(b.y.size()) / (b.rows * P);
    target_ = yb_.ensure(be_.allocator(), y_shape(b.rows, P, b.token_targets, t), DType::f32);
    be_.copy(target_, host(b.y, target_.shape, DType::f32));
  } else {
    target_ = Tensor{};
  }
}

}  // namespace hpct::train
