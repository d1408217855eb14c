#pragma once
// Mini-batches on the device: rows of a host-resident data set picked by an index list (evaluation),
// or a batch the prefetching loader prepared (training).
//
// The host batch is staged into one of two host slots and copied to the device on a copy stream; the
// compute stream waits for that copy through an event, and the copy into a slot's device buffers waits
// until the compute stream has finished with the batch that used the slot before. The host waits only
// when a slot's previous copies have not run yet, i.e. when it runs two batches ahead of the device:
// flow control (Backend::throttle), not a read of device data. Where the backend has page-locked host
// memory (CUDA), each slot's arrays are first put into pinned buffers, so the copy is a DMA the host
// does not wait for (from pageable memory the driver would stage it on the host). Float inputs are cast to
// the model's compute dtype on the device; targets stay float32 (losses are computed in float32) or
// int32 labels; lengths are int32.
#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/buffer.hpp"
#include "data/dataset.hpp"
#include "data/loader.hpp"
#include "kernels/kernels.hpp"
#include "nn/model.hpp"

namespace hpct::train {

class BatchAssembler {
 public:
  // dtype: the model's compute dtype.
  BatchAssembler(kernels::Backend& be, DType dtype);

  // Gathers rows index[0, count) of d. The returned views stay valid until the next-but-one call.
  void gather(const data::Dataset& d, const std::int64_t* index, std::int64_t count);
  // A batch the loader assembled in host memory. width: floats of x per row (RowSource::width()).
  void upload(const data::HostBatch& b, std::int64_t width);
  // Float inputs in the compute dtype: [count, F], or [count, L, F] for sequences; empty for tokens.
  const Tensor& x() const { return x_; }
  // Token ids int32 [count, L] (padding 0); empty unless the data are tokens.
  const Tensor& tokens() const { return tokens_; }
  // Valid positions of each row, int32 [count]; empty for tabular data.
  const Tensor& lengths() const { return lengths_; }
  // The data set's row of each batch row, int64 [count] (the dropout masks' and ssvae noise's keys:
  // nn::Pass::row_ids). int64 as the loader's ids: no narrowing or range check, 8 bytes a row.
  const Tensor& row_ids() const { return row_ids_; }
  // Targets: float32 [count, T], or int32 labels [count]; per token float32 [count, L, T] or int32
  // labels [count, L] (-1 = ignore, padding included). Empty when there are no targets.
  const Tensor& target() const { return target_; }
  // What the model reads: x or tokens, the lengths, and the rows' ids in their data set.
  nn::ModelInput input() const { return {x_, tokens_, lengths_, row_ids_}; }

 private:
  // One staging slot: host arrays, their pinned copies (pinned backends only) and the device buffers
  // they are copied into.
  struct Slot {
    data::HostBatch host;
    Buffer pin_x, pin_tokens, pin_target, pin_lengths, pin_row_ids;
    Buffer x32, x, tokens, target, lengths, row_ids;
    std::unique_ptr<Event> copied;  // on the copy stream, after the slot's copies
    std::unique_ptr<Event> free;    // on the compute stream, before the slot is refilled
  };
  void send(Slot& s, std::int64_t width);

  kernels::Backend& be_;
  DType dtype_;
  std::unique_ptr<Stream> copy_stream_;
  std::array<Slot, 2> slots_;
  std::size_t next_ = 0;
  Tensor x_, target_, tokens_, lengths_, row_ids_;
};

}  // namespace hpct::train
