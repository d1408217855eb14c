#include "train/batch.hpp"

#include <algorithm>
#include <cstring>

#include "core/trace.hpp"

namespace hpct::train {
namespace {

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

template <class T>
Tensor host_view(const std::vector<T>& v, Shape s) {
  return Tensor(const_cast<T*>(v.data()), s, dtype_of<T>());
}

}  // namespace

BatchAssembler::BatchAssembler(kernels::Backend& be, DType dtype)
    : be_(be), dtype_(dtype), copy_stream_(be.create_stream()) {
  for (Slot& s : slots_) {
    s.copied = be.create_event();
    s.free = be.create_event();
  }
}

void BatchAssembler::gather(const data::Dataset& d, const std::int64_t* index, std::int64_t count) {
  Slot& s = slots_[next_];
  be_.throttle(*s.copied);  // the host arrays may still be being copied from
  data::HostBatch& b = s.host;
  const std::int64_t width = d.row_width(), P = d.target_positions();
  b.rows = count;
  b.seq_len = d.seq_len;
  b.token_targets = d.token_targets;
  const auto rows_of = [&](const auto& src, std::int64_t w, auto& dst) {
    dst.resize(static_cast<std::size_t>(count * w));
    for (std::int64_t i = 0; i < count; ++i)
      std::copy_n(src.begin() + index[i] * w, w, dst.begin() + i * w);
  };
  if (width > 0) rows_of(d.x, width, b.x); else b.x.clear();
  if (!d.tokens.empty()) rows_of(d.tokens, d.seq_len, b.tokens); else b.tokens.clear();
  b.lengths.clear();
  if (d.is_sequence())
    for (std::int64_t i = 0; i < count; ++i) b.lengths.push_back(static_cast<std::int32_t>(d.length(index[i])));
  b.labels.clear();
  b.y.clear();
  b.row_ids.assign(index, index + count);
  if (d.task == data::Task::classification && !d.labels.empty())
    rows_of(d.labels, P, b.labels);
  else if (!d.y.empty())
    rows_of(d.y, P * d.targets, b.y);
  send(s, width);
}

void BatchAssembler::upload(const data::HostBatch& b, std::int64_t width) {
  Slot& s = slots_[next_];
  be_.throttle(*s.copied);  // the host arrays may still be being copied from
  s.host = b;
  send(s, width);
}

// Copies slot s to the device on the copy stream and makes the compute stream wait for it.
void BatchAssembler::send(Slot& s, std::int64_t width) {
  next_ = 1 - next_;
  const data::HostBatch& b = s.host;
  Stream& compute = be_.stream();
  s.free->record(compute);  // everything that read this slot's device buffers before
  const std::int64_t P = b.token_targets ? b.seq_len : 1;
  {
    kernels::StreamGuard on_copy(be_, *copy_stream_);
    copy_stream_->wait(*s.free);
    const bool traced = trace::enabled();
    if (traced) be_.device_span_begin();
    const bool pinned = be_.has_pinned_host_memory();
    auto put = [&](Buffer& buf, Buffer& pin, const auto& v, Shape shape) {
      using T = typename std::decay_t<decltype(v)>::value_type;
      const Tensor& t = buf.ensure(be_.allocator(), shape, dtype_of<T>());
      Tensor src = host_view(v, shape);
      if (pinned) {  // the slot's page-locked copy; the throttle above made sure its last copy has run
        src = pin.ensure(be_.pinned_host_allocator(), shape, dtype_of<T>());
        std::memcpy(src.data, v.data(), src.bytes());
      }
      be_.copy(t, src);
      return t;
    };
    x_ = width > 0 ? put(s.x32, s.pin_x, b.x, x_shape(b.rows, b.seq_len, width)) : Tensor{};
    tokens_ = b.tokens.empty() ? Tensor{} : put(s.tokens, s.pin_tokens, b.tokens, Shape{b.rows, b.seq_len});
    lengths_ = b.lengths.empty() ? Tensor{} : put(s.lengths, s.pin_lengths, b.lengths, Shape{b.rows});
    row_ids_ = b.row_ids.empty() ? Tensor{} : put(s.row_ids, s.pin_row_ids, b.row_ids, Shape{b.rows});
    if (!b.labels.empty())
      target_ = put(s.target, s.pin_target, b.labels, label_shape(b.rows, P, b.token_targets));
    else if (!b.y.empty())
      target_ = put(s.target, s.pin_target, b.y,
                    y_shape(b.rows, P, b.token_targets, static_cast<std::int64_t>(b.y.size()) / (b.rows * P)));
    else
      target_ = Tensor{};
    if (traced) be_.device_span_end("batch copy", "data");
    s.copied->record(*copy_stream_);
  }
  compute.wait(*s.copied);
  if (!x_.empty() && dtype_ != DType::f32) {  // the compute dtype, cast on the device
    const Tensor& x = s.x.ensure(be_.allocator(), x_.shape, dtype_);
    be_.cast(x_, x);
    x_ = x;
  }
}

}  // namespace hpct::train
