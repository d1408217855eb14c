// CudaPoolAllocator and CudaPinnedAllocator (cuda_allocator.hpp).
#include "kernels/cuda/cuda_allocator.hpp"

#include <algorithm>
#include <cstdint>

#include "core/error.hpp"
#include "kernels/cuda/cuda_check.hpp"

namespace hpct::kernels::cuda {

CudaPoolAllocator::CudaPoolAllocator(int device, cudaStream_t default_stream)
    : device_(device), default_stream_(default_stream) {
  HPCT_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool_, device_));
  // Keep freed memory in the pool (the default threshold 0 returns it at every synchronize).
  std::uint64_t keep = UINT64_MAX;
  HPCT_CUDA_CHECK(cudaMemPoolSetAttribute(pool_, cudaMemPoolAttrReleaseThreshold, &keep));
  HPCT_CUDA_CHECK(cudaEventCreateWithFlags(&order_, cudaEventDisableTiming));
}

CudaPoolAllocator::~CudaPoolAllocator() {
  if (order_) HPCT_CUDA_WARN(cudaEventDestroy(order_));
}

void CudaPoolAllocator::add_stream(cudaStream_t s) {
  std::lock_guard lk(m_);
  streams_.push_back(s);
}

void CudaPoolAllocator::remove_stream(cudaStream_t s) noexcept {
  std::lock_guard lk(m_);
  streams_.erase(std::remove(streams_.begin(), streams_.end(), s), streams_.end());
}

void* CudaPoolAllocator::allocate(std::size_t bytes) {
  if (bytes == 0) return nullptr;
  void* p = nullptr;
  const cudaError_t e = cudaMallocFromPoolAsync(&p, bytes, pool_, default_stream_);
  if (e == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    fail("cuda:", device_, ": out of memory allocating ", bytes, " bytes (the pool holds ", reserved_bytes(), ")");
  }
  HPCT_CUDA_CHECK(e);
  // Other streams use the block only after the allocation in the default stream's order.
  std::lock_guard lk(m_);
  if (!streams_.empty()) {
    HPCT_CUDA_CHECK(cudaEventRecord(order_, default_stream_));
    for (cudaStream_t s : streams_) HPCT_CUDA_CHECK(cudaStreamWaitEvent(s, order_, 0));
  }
  return p;
}

void CudaPoolAllocator::deallocate(void* p) noexcept {
  if (!p) return;
  std::lock_guard lk(m_);
  // The default stream passes every other stream's work so far before the block returns to the pool.
  for (cudaStream_t s : streams_) {
    HPCT_CUDA_WARN(cudaEventRecord(order_, s));
    HPCT_CUDA_WARN(cudaStreamWaitEvent(default_stream_, order_, 0));
  }
  HPCT_CUDA_WARN(cudaFreeAsync(p, default_stream_));
}

std::size_t CudaPoolAllocator::reserved_bytes() const {
  std::uint64_t v = 0;
  if (cudaMemPoolGetAttribute(pool_, cudaMemPoolAttrReservedMemCurrent, &v) != cudaSuccess) return 0;
  return static_cast<std::size_t>(v);
}

void* CudaPinnedAllocator::allocate(std::size_t bytes) {
  if (bytes == 0) return nullptr;
  void* p = nullptr;
  const cudaError_t e = cudaHostAlloc(&p, bytes, cudaHostAllocPortable);
  if (e == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    fail("cuda: cannot page-lock ", bytes, " bytes of host memory (cudaHostAlloc; ulimit -l, or the node's memory)");
  }
  HPCT_CUDA_CHECK(e);
  return p;
}

void CudaPinnedAllocator::deallocate(void* p) noexcept {
  if (p) HPCT_CUDA_WARN(cudaFreeHost(p));
}

}  // namespace hpct::kernels::cuda
