// CudaStream and CudaEvent (cuda_stream.hpp).
#include "kernels/cuda/cuda_stream.hpp"

#include <cstdio>
#include <utility>

#include "core/error.hpp"
#include "kernels/cuda/cuda_check.hpp"

namespace hpct::kernels::cuda {

void warn_call(const char* call, const char* file, int line, const char* what) noexcept {
  std::fprintf(stderr, "hpctrain: CUDA call %s failed at %s:%d: %s\n", call, file, line, what);
}

CudaStream::CudaStream(int device, std::function<void()> after_wait, std::function<void(cudaStream_t)> on_destroy)
    : device_(device), after_wait_(std::move(after_wait)), on_destroy_(std::move(on_destroy)) {
  HPCT_CUDA_CHECK(cudaSetDevice(device_));
  HPCT_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
}

CudaStream::~CudaStream() {
  if (on_destroy_ && stream_) on_destroy_(stream_);
  if (stream_) HPCT_CUDA_WARN(cudaStreamDestroy(stream_));  // returns at once; pending work still runs
}

void CudaStream::wait(const Event& e) {
  const auto* ce = dynamic_cast<const CudaEvent*>(&e);
  HPCT_CHECK(ce != nullptr, "cuda: a CUDA stream can only wait for a CUDA event");
  HPCT_CUDA_CHECK(cudaStreamWaitEvent(stream_, ce->handle(), 0));
}

void CudaStream::synchronize() {
  HPCT_CUDA_CHECK(cudaStreamSynchronize(stream_));
  after_wait_();
  std::exception_ptr err;
  {
    std::lock_guard lk(host_error_->m);
    err = std::exchange(host_error_->error, nullptr);
  }
  if (err) std::rethrow_exception(err);
}

namespace {

// What cudaLaunchHostFunc runs: the function and where its exception goes; freed after the call.
struct HostCall {
  std::function<void()> fn;
  std::shared_ptr<HostError> error;
};

void run_host_call(void* p) {
  std::unique_ptr<HostCall> call(static_cast<HostCall*>(p));
  try {
    call->fn();
  } catch (...) {
    std::lock_guard lk(call->error->m);
    if (!call->error->error) call->error->error = std::current_exception();
  }
}

}  // namespace

void CudaStream::launch_host(std::function<void()> fn) {
  auto call = std::make_unique<HostCall>(HostCall{std::move(fn), host_error_});
  HPCT_CUDA_CHECK(cudaLaunchHostFunc(stream_, run_host_call, call.get()));
  call.release();  // run_host_call owns it now
}

CudaEvent::CudaEvent(int device, std::function<void()> after_wait)
    : device_(device), after_wait_(std::move(after_wait)) {
  HPCT_CUDA_CHECK(cudaSetDevice(device_));
  HPCT_CUDA_CHECK(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming));
}

CudaEvent::~CudaEvent() {
  if (event_) HPCT_CUDA_WARN(cudaEventDestroy(event_));
}

void CudaEvent::record(Stream& s) { HPCT_CUDA_CHECK(cudaEventRecord(event_, native(s))); }

bool CudaEvent::query() const {
  const cudaError_t e = cudaEventQuery(event_);
  if (e == cudaErrorNotReady) return false;
  HPCT_CUDA_CHECK(e);
  return true;
}

void CudaEvent::synchronize() {
  HPCT_CUDA_CHECK(cudaEventSynchronize(event_));
  after_wait_();
}

cudaStream_t native(Stream& s) {
  auto* cs = dynamic_cast<CudaStream*>(&s);
  HPCT_CHECK(cs != nullptr, "cuda: the backend's current stream is not a CUDA stream");
  return cs->handle();
}

}  // namespace hpct::kernels::cuda
