// CudaTimeline (cuda_trace.hpp).
#include "kernels/cuda/cuda_trace.hpp"

#include <cstddef>

#include "core/error.hpp"
#include "core/trace.hpp"
#include "kernels/cuda/cuda_check.hpp"

namespace hpct::kernels::cuda {

CudaTimeline::CudaTimeline(int device) : device_(device) {
  source_ = trace::add_device_source([this] { flush(true); });
}

CudaTimeline::~CudaTimeline() {
  trace::remove_device_source(source_);  // first: a concurrent events_json() may be flushing us
  try {
    flush(true);
  } catch (const std::exception& e) {
    warn_call("CudaTimeline::flush", __FILE__, __LINE__, e.what());
  }
  for (const auto& [s, e] : open_) HPCT_CUDA_WARN(cudaEventDestroy(e));
  for (const cudaEvent_t e : free_) HPCT_CUDA_WARN(cudaEventDestroy(e));
  if (ref_) HPCT_CUDA_WARN(cudaEventDestroy(ref_));
}

cudaEvent_t CudaTimeline::event() {
  if (!free_.empty()) {
    const cudaEvent_t e = free_.back();
    free_.pop_back();
    return e;
  }
  cudaEvent_t e = nullptr;
  HPCT_CUDA_CHECK(cudaEventCreate(&e));  // timing enabled (the default flags)
  return e;
}

void CudaTimeline::begin(cudaStream_t s) {
  const std::lock_guard lock(m_);
  HPCT_CUDA_CHECK(cudaSetDevice(device_));
  if (!ref_) {  // the reference: its device time is known on the host once it has completed
    HPCT_CUDA_CHECK(cudaEventCreate(&ref_));
    HPCT_CUDA_CHECK(cudaEventRecord(ref_, s));
    HPCT_CUDA_CHECK(cudaEventSynchronize(ref_));
    ref_us_ = trace::now_us();
  }
  cudaEvent_t& e = open_[s];
  if (!e) e = event();
  HPCT_CUDA_CHECK(cudaEventRecord(e, s));
}

void CudaTimeline::end(cudaStream_t s, const std::string& track, const std::string& name, const char* category) {
  const std::lock_guard lock(m_);
  const auto it = open_.find(s);
  if (it == open_.end()) return;
  const cudaEvent_t start = it->second;
  open_.erase(it);
  const cudaEvent_t stop = event();
  HPCT_CUDA_CHECK(cudaEventRecord(stop, s));
  spans_.push_back({start, stop, track, name, category});
  if (spans_.size() >= 1024) emit_locked(false);
}

void CudaTimeline::flush(bool wait) {
  const std::lock_guard lock(m_);
  emit_locked(wait);
}

// Spans in record order, up to the first unfinished one (unless waiting); the events go back to the
// free list. cudaEventElapsedTime gives milliseconds since the reference (about 0.5 us resolution).
void CudaTimeline::emit_locked(bool wait) {
  std::size_t done = 0;
  for (; done < spans_.size(); ++done) {
    const Span& sp = spans_[done];
    if (wait) {
      HPCT_CUDA_CHECK(cudaEventSynchronize(sp.stop));
    } else {
      const cudaError_t q = cudaEventQuery(sp.stop);
      if (q == cudaErrorNotReady) break;
      HPCT_CUDA_CHECK(q);
    }
    float start_ms = 0.0f, stop_ms = 0.0f;
    HPCT_CUDA_CHECK(cudaEventElapsedTime(&start_ms, ref_, sp.start));
    HPCT_CUDA_CHECK(cudaEventElapsedTime(&stop_ms, ref_, sp.stop));
    trace::complete_on_track(sp.track, sp.name, sp.category, ref_us_ + 1e3 * start_ms, ref_us_ + 1e3 * stop_ms);
    free_.push_back(sp.start);
    free_.push_back(sp.stop);
  }
  spans_.erase(spans_.begin(), spans_.begin() + static_cast<std::ptrdiff_t>(done));
}

}  // namespace hpct::kernels::cuda
