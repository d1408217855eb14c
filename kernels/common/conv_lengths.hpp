#pragma once
// The valid positions of a 1-D convolution's side that /lengths does not describe (Conv1dGeom), shared
// by the CPU and CUDA backends (HPCT_HD): a conv of stride S keeps ceil(len / S) of its ly outputs; a
// transposed conv's len inputs reach len S of its lx outputs.
#include <cstdint>

#include "core/host_device.hpp"

namespace hpct::kernels::math {

HPCT_HD std::int64_t conv_valid_out(std::int64_t len, std::int64_t stride, std::int64_t ly) {
  const std::int64_t v = (len + stride - 1) / stride;
  return v < ly ? v : ly;
}

HPCT_HD std::int64_t conv_transpose_valid_out(std::int64_t len, std::int64_t stride, std::int64_t lx) {
  const std::int64_t v = len * stride;
  return v < lx ? v : lx;
}

}  // namespace hpct::kernels::math
