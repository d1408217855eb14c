#pragma once
// Device-timed spans on CUDA streams for the --trace timeline (core/trace.hpp: device tracks). begin()
// records a timing event on a stream, end() another and names the span; the times are the device's,
// so a span shows when the GPU ran the work, not when the host enqueued it. Times are converted to the
// host clock through a reference event recorded on the first span and waited for once (its host time
// read right after the wait; one host sync per traced run). Finished spans are emitted when the trace
// is written (a registered device source), and also once 1024 of them pile up, as far as they have
// completed, so a long trace holds a bounded number of events. Nothing here runs unless trace::enabled():
// the backend creates a timeline on the first traced span.
#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace hpct::kernels::cuda {

class CudaTimeline {
 public:
  explicit CudaTimeline(int device);
  ~CudaTimeline();  // waits for and emits what is left
  CudaTimeline(const CudaTimeline&) = delete;
  CudaTimeline& operator=(const CudaTimeline&) = delete;

  // A span starts on s here (replacing one begun on s and never ended).
  void begin(cudaStream_t s);
  // The span begun on s ends here, shown as `name` on `track`; without a begin on s, nothing.
  void end(cudaStream_t s, const std::string& track, const std::string& name, const char* category);
  // Emits the finished spans (wait = true: waits for every span to finish first).
  void flush(bool wait);

 private:
  struct Span {
    cudaEvent_t start, stop;
    std::string track, name;
    const char* category;
  };
  cudaEvent_t event();  // from the free list, or a new timing event
  void emit_locked(bool wait);

  int device_;
  int source_ = 0;
  std::mutex m_;
  cudaEvent_t ref_ = nullptr;  // the reference event and its host time
  double ref_us_ = 0.0;
  std::map<cudaStream_t, cudaEvent_t> open_;
  std::vector<Span> spans_;
  std::vector<cudaEvent_t> free_;
};

}  // namespace hpct::kernels::cuda
