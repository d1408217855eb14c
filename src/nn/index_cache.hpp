#pragma once
// Row-gather indices (i64 on the device) that a layer needs for each batch size: built once on the
// host and uploaded. The host arrays and device copies live as long as the layer, so the upload, an
// asynchronous copy from host memory, can never read freed memory. Constants of the layer's shape,
// not state of a pass.
#include <cstdint>
#include <map>
#include <vector>

#include "core/buffer.hpp"
#include "kernels/kernels.hpp"

namespace hpct::nn {

class IndexCache {
 public:
  // The indices for `key` (e.g. the batch size): build(host) fills the host array on first use.
  template <class Build>
  const Tensor& get(kernels::Backend& be, std::int64_t key, Build&& build) {
    auto it = entries_.find(key);
    if (it == entries_.end() || it->second.backend != &be) {
      Entry& e = entries_[key];
      e.host.clear();
      build(e.host);
      e.backend = &be;
      e.device = Buffer(be.allocator(), Shape{static_cast<std::int64_t>(e.host.size())}, DType::i64);
      be.copy(e.device, Tensor(e.host.data(), e.device.tensor().shape, DType::i64));
      return e.device.tensor();
    }
    return it->second.device.tensor();
  }

 private:
  struct Entry {
    const kernels::Backend* backend = nullptr;
    std::vector<std::int64_t> host;
    Buffer device;
  };
  std::map<std::int64_t, Entry> entries_;
};

}  // namespace hpct::nn
