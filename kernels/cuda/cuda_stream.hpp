#pragma once
// The CUDA backend's Stream and Event: a cudaStream_t (non-blocking with respect to the legacy default
// stream) and a cudaEvent_t (timing disabled). Host waits go through the backend's callback, which
// counts them (Backend::count_host_sync) and raises a device-side error (device_error.hpp). launch_host
// is cudaLaunchHostFunc; an exception thrown by the host function is kept and rethrown by the next
// synchronize of that stream.
#include <cuda_runtime.h>

#include <exception>
#include <functional>
#include <memory>
#include <mutex>

#include "core/stream.hpp"

namespace hpct::kernels::cuda {

// The first exception of a stream's host functions.
struct HostError {
  std::mutex m;
  std::exception_ptr error;
};

class CudaStream final : public Stream {
 public:
  // after_wait runs on the host after each completed wait (counting, device errors); on_destroy, when
  // given, before the stream is destroyed (the allocator forgets it).
  CudaStream(int device, std::function<void()> after_wait, std::function<void(cudaStream_t)> on_destroy = {});
  ~CudaStream() override;
  CudaStream(const CudaStream&) = delete;
  CudaStream& operator=(const CudaStream&) = delete;

  void wait(const Event& e) override;
  void synchronize() override;
  void launch_host(std::function<void()> fn) override;

  cudaStream_t handle() const { return stream_; }

 private:
  int device_;
  cudaStream_t stream_ = nullptr;
  std::function<void()> after_wait_;
  std::function<void(cudaStream_t)> on_destroy_;
  std::shared_ptr<HostError> host_error_ = std::make_shared<HostError>();
};

class CudaEvent final : public Event {
 public:
  CudaEvent(int device, std::function<void()> after_wait);
  ~CudaEvent() override;
  CudaEvent(const CudaEvent&) = delete;
  CudaEvent& operator=(const CudaEvent&) = delete;

  void record(Stream& s) override;
  bool query() const override;
  void synchronize() override;

  cudaEvent_t handle() const { return event_; }

 private:
  int device_;
  cudaEvent_t event_ = nullptr;
  std::function<void()> after_wait_;
};

// The cudaStream_t of a Stream this backend created (throws naming the type otherwise).
cudaStream_t native(Stream& s);

}  // namespace hpct::kernels::cuda
