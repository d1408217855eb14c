#pragma once
// Errors found by kernels in device memory values (a label or index out of range, a step count below 1):
// the first one is written to a record in mapped pinned host memory, and the next host wait (stream,
// event or backend synchronize) throws it with its message. Kernels call report(); the host reads the
// record only after a wait, when every kernel before it has finished.
#include <cstdint>

#include "core/host_device.hpp"

namespace hpct::kernels::cuda {

struct DeviceError {
  enum Code : int {
    none = 0,
    label_out_of_range,
    index_out_of_range,
    length_out_of_range,
    step_below_one,
    id_out_of_range,         // embedding: (position, id, vocab)
    ssvae_label_out_of_range, // ssvae_objective: (row, label, classes)
    row_id_out_of_range       // dropout / attention / normal_fill row keys: (batch row, id, largest valid)
  };
  int code = none;
  long long a = 0, b = 0, c = 0;  // code-specific: (row, value, limit)

#if defined(__CUDACC__)
  // The first report wins; later ones are dropped (the host sees one error per wait).
  __device__ void report(int what, long long va, long long vb, long long vc) {
    if (atomicCAS(&code, 0, -1) == 0) {
      a = va;
      b = vb;
      c = vc;
      __threadfence_system();
      atomicExch(&code, what);
    }
  }
#endif
};

}  // namespace hpct::kernels::cuda
