#pragma once
// What `hpctrain info --system` says about CUDA (kernels/cuda_factory.cpp forwards to it).
#include <string>

namespace hpct::kernels::cuda {

// Lines: the CUDA runtime, driver, cuBLASLt, cuDNN and NCCL versions, whether cuDNN's fused attention
// is built (cuda_sdpa.hpp), then each visible GPU (name,
// memory, compute capability, PCI id) and its peer access, or "no GPU visible (why)".
std::string system_report();
// The name of GPU `device` ("NVIDIA H100 80GB HBM3").
std::string device_name(int device);

}  // namespace hpct::kernels::cuda
