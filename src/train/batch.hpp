#pragma once
// Mini-batches on the backend, in reusable input and target buffers: rows of a host-resident data set
// picked by an index list (evaluation), or a batch the prefetching loader prepared (training).
#include <cstdint>
#include <vector>

#include "core/buffer.hpp"
#include "data/dataset.hpp"
#include "data/loader.hpp"
#include "kernels/kernels.hpp"

namespace hpct::train {

class BatchAssembler {
 public:
  // dtype: the model's floating-point type (targets follow it; class labels stay int32).
  BatchAssembler(kernels::Backend& be, DType dtype) : be_(be), dtype_(dtype) {}

  // Gathers rows index[begin, begin + count) of d. The returned views stay valid until the next call.
  void gather(const data::Dataset& d, const std::int64_t* index, std::int64_t count);
  // Copies a batch the loader assembled in host memory (with the CUDA backend: to the device).
  void upload(const data::HostBatch& b, std::int64_t width);
  const Tensor& x() const { return x_; }
  // Targets: float [count, T], or int32 labels [count]; empty when d has no targets.
  const Tensor& target() const { return target_; }

 private:
  kernels::Backend& be_;
  DType dtype_;
  Buffer xb_, yb_;
  Tensor x_, target_;
};

}  // namespace hpct::train
