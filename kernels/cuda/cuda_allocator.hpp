#pragma once
// The CUDA backend's allocator: stream-ordered allocation (cudaMallocFromPoolAsync / cudaFreeAsync) from
// the device's own memory pool, whose release threshold is unlimited, so freed blocks stay cached in the
// pool and a training step's buffers never reach cudaMalloc after the first step.
//
// Allocator has no stream argument, so both are ordered against every stream of the backend: an
// allocation is made on the default stream and every other live stream waits for it (an event, no host
// wait); a free makes the default stream wait for every other stream first, then frees on it. So a
// buffer may be used on any stream of the backend between allocate and deallocate.
//
// CudaPinnedAllocator: page-locked host memory (cudaHostAlloc, portable to every device) for the host side
// of copies the host must not wait for (Backend::pinned_host_allocator: the batch staging slots).
#include <cuda_runtime.h>

#include <cstddef>
#include <mutex>
#include <vector>

#include "core/allocator.hpp"

namespace hpct::kernels::cuda {

class CudaPoolAllocator final : public Allocator {
 public:
  CudaPoolAllocator(int device, cudaStream_t default_stream);
  ~CudaPoolAllocator() override;
  CudaPoolAllocator(const CudaPoolAllocator&) = delete;
  CudaPoolAllocator& operator=(const CudaPoolAllocator&) = delete;

  void* allocate(std::size_t bytes) override;
  void deallocate(void* p) noexcept override;
  Device device() const override { return {DeviceKind::cuda, device_}; }

  // Streams besides the default one whose work allocations and frees are ordered with.
  void add_stream(cudaStream_t s);
  void remove_stream(cudaStream_t s) noexcept;

  // Bytes reserved by the pool from the device (cudaMemPoolAttrReservedMemCurrent).
  std::size_t reserved_bytes() const;

 private:
  int device_;
  cudaStream_t default_stream_;
  cudaMemPool_t pool_ = nullptr;
  cudaEvent_t order_ = nullptr;  // recorded to order one stream after another
  std::mutex m_;
  std::vector<cudaStream_t> streams_;
};

class CudaPinnedAllocator final : public Allocator {
 public:
  void* allocate(std::size_t bytes) override;
  // cudaFreeHost waits for the copies in flight from the block (the callers have, through events).
  void deallocate(void* p) noexcept override;
  Device device() const override { return {DeviceKind::cpu, 0}; }  // the host reads and writes it directly
};

}  // namespace hpct::kernels::cuda
