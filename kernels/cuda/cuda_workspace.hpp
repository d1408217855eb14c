#pragma once
// A cuDNN call's workspace, from the stream-ordered pool, freed in stream order after the call
// (host code: cuda_cudnn_conv.cpp, cuda_sdpa.cpp; kernels use Scratch in cuda_common.cuh).
#include <cuda_runtime.h>

#include <cstddef>

#include "kernels/cuda/cuda_check.hpp"

namespace hpct::kernels::cuda {

struct Workspace {
  void* p = nullptr;
  cudaStream_t s;
  Workspace(std::size_t bytes, cudaStream_t stream) : s(stream) {
    if (bytes > 0) HPCT_CUDA_CHECK(cudaMallocAsync(&p, bytes, s));
  }
  ~Workspace() {
    if (p) HPCT_CUDA_WARN(cudaFreeAsync(p, s));
  }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
};

}  // namespace hpct::kernels::cuda
