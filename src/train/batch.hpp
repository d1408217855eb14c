#pragma once
// Mini-batches on the backend, in reusable input and target buffers: rows of a host-resident data set
// picked by an index list (evaluation), or a batch the prefetching loader prepared (training).
#include <cstdint>
#include <vector>

#include "core/buffer.hpp"
#include "data/dataset.hpp"
#include "data/loader.hpp"
#include "kernels/kernels.hpp"
#include "nn/model.hpp"

namespace hpct::train {

class BatchAssembler {
 public:
  // dtype: the model's floating-point type (targets follow it; class labels stay int32).
  BatchAssembler(kernels::Backend& be, DType dtype) : be_(be), dtype_(dtype) {}

  // Gathers rows index[begin, begin + count) of d. The returned views stay valid until the next call.
  void gather(const data::Dataset& d, const std::int64_t* index, std::int64_t count);
  // Copies a batch the loader assembled in host memory (with the CUDA backend: to the device).
  // width: floats of x per row (RowSource::width()).
  void upload(const data::HostBatch& b, std::int64_t width);
  // Float inputs: [count, F], or [count, L, F] for sequences; empty for token data.
  const Tensor& x() const { return x_; }
  // Token ids int32 [count, L] (padding 0); empty unless the data are tokens.
  const Tensor& tokens() const { return tokens_; }
  // Valid positions of each row, in host memory (attention masks, pooling); empty for tabular data.
  const std::vector<std::int32_t>& lengths() const { return lengths_; }
  // Targets: float [count, T], or int32 labels [count]; per token float [count, L, T] or int32
  // labels [count, L] (-1 = ignore, padding included). Empty when d has no targets.
  const Tensor& target() const { return target_; }
  // The lengths as a host pointer for the model and the loss; nullptr for tabular data.
  const std::int32_t* lengths_or_null() const { return lengths_.empty() ? nullptr : lengths_.data(); }
  // What the model reads: x or tokens, and the lengths.
  nn::ModelInput input() const { return {x_, tokens_, lengths_or_null()}; }

 private:
  kernels::Backend& be_;
  DType dtype_;
  Buffer xb_, yb_, tb_;
  Tensor x_, target_, tokens_;
  std::vector<std::int32_t> lengths_;
};

}  // namespace hpct::train
