#pragma once
// Every CUDA, cuBLAS(Lt), cuDNN and NCCL call of the backend goes through one of these: a failure
// throws hpct::Error naming the call, file:line and the library's error string.
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <nccl.h>

#include "core/error.hpp"

namespace hpct::kernels::cuda {

[[noreturn]] inline void throw_call(const char* library, const char* call, const char* file, int line,
                                    const char* what) {
  fail(library, " call ", call, " failed at ", file, ":", line, ": ", what);
}

}  // namespace hpct::kernels::cuda

#define HPCT_CUDA_CHECK(call)                                                                            \
  do {                                                                                                   \
    const cudaError_t hpct_e_ = (call);                                                                  \
    if (hpct_e_ != cudaSuccess)                                                                          \
      ::hpct::kernels::cuda::throw_call("CUDA", #call, __FILE__, __LINE__, cudaGetErrorString(hpct_e_)); \
  } while (0)

// A kernel launch: the launch error (bad configuration, no device code for this GPU) at once.
#define HPCT_CUDA_LAUNCH_CHECK() HPCT_CUDA_CHECK(cudaGetLastError())

#define HPCT_CUBLAS_CHECK(call)                                                                                 \
  do {                                                                                                          \
    const cublasStatus_t hpct_s_ = (call);                                                                      \
    if (hpct_s_ != CUBLAS_STATUS_SUCCESS)                                                                       \
      ::hpct::kernels::cuda::throw_call("cuBLAS", #call, __FILE__, __LINE__, cublasGetStatusString(hpct_s_)); \
  } while (0)

#define HPCT_CUDNN_CHECK(call)                                                                               \
  do {                                                                                                       \
    const cudnnStatus_t hpct_s_ = (call);                                                                    \
    if (hpct_s_ != CUDNN_STATUS_SUCCESS)                                                                     \
      ::hpct::kernels::cuda::throw_call("cuDNN", #call, __FILE__, __LINE__, cudnnGetErrorString(hpct_s_)); \
  } while (0)

#define HPCT_NCCL_CHECK(call)                                                                              \
  do {                                                                                                     \
    const ncclResult_t hpct_r_ = (call);                                                                   \
    if (hpct_r_ != ncclSuccess)                                                                            \
      ::hpct::kernels::cuda::throw_call("NCCL", #call, __FILE__, __LINE__, ncclGetErrorString(hpct_r_)); \
  } while (0)

// In noexcept paths (destructors, Allocator::deallocate): report on stderr instead of throwing.
#define HPCT_CUDA_WARN(call)                                                                            \
  do {                                                                                                  \
    const cudaError_t hpct_e_ = (call);                                                                 \
    if (hpct_e_ != cudaSuccess)                                                                         \
      ::hpct::kernels::cuda::warn_call(#call, __FILE__, __LINE__, cudaGetErrorString(hpct_e_));         \
  } while (0)

#define HPCT_CUDNN_WARN(call)                                                                           \
  do {                                                                                                  \
    const cudnnStatus_t hpct_s_ = (call);                                                               \
    if (hpct_s_ != CUDNN_STATUS_SUCCESS)                                                                \
      ::hpct::kernels::cuda::warn_call(#call, __FILE__, __LINE__, cudnnGetErrorString(hpct_s_));        \
  } while (0)

namespace hpct::kernels::cuda {
void warn_call(const char* call, const char* file, int line, const char* what) noexcept;
}  // namespace hpct::kernels::cuda
