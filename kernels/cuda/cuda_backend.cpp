// CudaBackend: device selection, streams and events, synchronize, device-side errors.
#include "kernels/cuda/cuda_backend.hpp"

#include <cstring>
#include <new>
#include <utility>

#include "core/error.hpp"
#include "kernels/cuda/cuda_check.hpp"

namespace hpct::kernels::cuda {

int visible_devices(std::string* why) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();  // not sticky: clear it
    if (why) *why = cat("cudaGetDeviceCount: ", cudaGetErrorString(e));
    return 0;
  }
  if (n == 0 && why) *why = "cudaGetDeviceCount: no CUDA device";
  return n;
}

CudaBackend::CudaBackend(int device, bool tf32) : device_(device), tf32_(tf32) {
  HPCT_CUDA_CHECK(cudaSetDevice(device_));
  HPCT_CUDA_CHECK(cudaDeviceGetAttribute(&sm_count_, cudaDevAttrMultiProcessorCount, device_));
  stream_ = std::make_unique<CudaStream>(device_, [this] { after_wait(); });
  allocator_ = std::make_shared<CudaPoolAllocator>(device_, stream_->handle());
  set_default_stream(*stream_);
  // The error record: pinned host memory mapped into the device's address space.
  void* host = nullptr;
  HPCT_CUDA_CHECK(cudaHostAlloc(&host, sizeof(DeviceError), cudaHostAllocMapped));
  error_host_ = new (host) DeviceError{};
  void* dev = nullptr;
  HPCT_CUDA_CHECK(cudaHostGetDevicePointer(&dev, host, 0));
  error_device_ = static_cast<DeviceError*>(dev);
  HPCT_CUBLAS_CHECK(cublasLtCreate(&lt_));
  // cuBLASLt's workspace: 32 MiB, what NVIDIA recommends for Hopper and later.
  lt_workspace_bytes_ = std::size_t{32} << 20;
  lt_workspace_ = allocator_->allocate(lt_workspace_bytes_);
}

CudaBackend::~CudaBackend() {
  HPCT_CUDA_WARN(cudaSetDevice(device_));
  HPCT_CUDA_WARN(cudaDeviceSynchronize());
  timeline_.reset();  // emits its last spans while the streams' events are valid
  if (lt_workspace_) allocator_->deallocate(lt_workspace_);
  if (lt_) (void)cublasLtDestroy(lt_);
  HPCT_CUDA_WARN(cudaStreamSynchronize(stream_->handle()));
  if (error_host_) HPCT_CUDA_WARN(cudaFreeHost(error_host_));
}

std::unique_ptr<Stream> CudaBackend::create_stream() {
  std::weak_ptr<CudaPoolAllocator> alloc = allocator_;
  auto s = std::make_unique<CudaStream>(device_, [this] { after_wait(); }, [alloc](cudaStream_t h) {
    if (auto a = alloc.lock()) a->remove_stream(h);
  });
  allocator_->add_stream(s->handle());
  return s;
}

void CudaBackend::device_span_begin() {
  if (!timeline_) timeline_ = std::make_unique<CudaTimeline>(device_);
  timeline_->begin(cur());
}

// Tracks: the default stream (the trainer's compute stream), then the others in the order they are seen.
void CudaBackend::device_span_end(const char* name, const char* category) {
  if (!timeline_) return;
  const cudaStream_t s = cur();
  auto it = tracks_.find(s);
  if (it == tracks_.end()) {
    const std::string track = s == stream_->handle() ? cat(this->name(), " default stream")
                                                     : cat(this->name(), " stream ", tracks_.size() + 1);
    it = tracks_.emplace(s, track).first;
  }
  timeline_->end(s, it->second, name, category);
}

std::unique_ptr<Event> CudaBackend::create_event() {
  return std::make_unique<CudaEvent>(device_, [this] { after_wait(); });
}

void CudaBackend::synchronize() {
  HPCT_CUDA_CHECK(cudaSetDevice(device_));
  HPCT_CUDA_CHECK(cudaDeviceSynchronize());
  after_wait();
}

// Every kernel before the wait has finished, so the record is stable; it is reset for the next error.
void CudaBackend::after_wait() {
  count_host_sync();
  DeviceError e;
  std::memcpy(&e, error_host_, sizeof e);
  if (e.code == DeviceError::none) return;
  *error_host_ = DeviceError{};
  switch (e.code) {
    case DeviceError::label_out_of_range:
      fail("softmax_ce_loss: label ", e.b, " of row ", e.a, " is out of range [0, ", e.c, ") (and not ", kIgnoreLabel,
           " = ignored)");
    case DeviceError::index_out_of_range:
      fail("gather_rows: index ", e.b, " at position ", e.a, " is out of range [0, ", e.c, ")");
    case DeviceError::length_out_of_range:
      fail("lengths: sequence ", e.a, " has length ", e.b, ", outside [0, ", e.c,
           "] (attention, pooling and convolutions: [1, ", e.c, "])");
    case DeviceError::id_out_of_range:
      fail("embedding: ids at flat position ", e.a, " = ", e.b, " is outside [0, ", e.c, ") (the table's rows)");
    case DeviceError::ssvae_label_out_of_range:
      fail("ssvae_objective: label ", e.b, " of row ", e.a, " is out of range [0, ", e.c,
           ") (and not -1 = unlabelled)");
    case DeviceError::row_id_out_of_range:
      fail("row_ids: batch row ", e.a, " has row id ", e.b, ", outside [0, ", e.c,
           "] (dropout and normal_fill key their Philox counters by it; they would overflow)");
    case DeviceError::step_below_one:
      fail("optimizer step: step ", e.b, " must be >= 1 (it is 1-based: step_control counts the step)");
    default: fail("cuda: a kernel reported error code ", e.code);
  }
}

}  // namespace hpct::kernels::cuda
