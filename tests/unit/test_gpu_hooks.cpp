// The Backend hooks the GPU path adds, as the CPU backends implement them (pinned staging memory, device
// spans), and the trace recorder's device tracks that the CUDA timeline feeds.
#include <doctest/doctest.h>

#include <string>

#include "core/buffer.hpp"
#include "core/trace.hpp"
#include "data/generators.hpp"
#include "kernels/cpu/cpu_backend.hpp"
#include "kernels/kernels.hpp"
#include "train/batch.hpp"

using namespace hpct;

namespace {

// Host memory that counts its allocations: stands in for page-locked memory.
class CountingAllocator final : public Allocator {
 public:
  void* allocate(std::size_t bytes) override {
    ++allocations;
    return host_allocator().allocate(bytes);
  }
  void deallocate(void* p) noexcept override { host_allocator().deallocate(p); }
  Device device() const override { return {}; }
  int allocations = 0;
};

// The CPU backend claiming pinned host memory, so the batch staging takes the CUDA path.
class PinnedCpuBackend final : public kernels::CpuBackend {
 public:
  PinnedCpuBackend() : CpuBackend(1) {}
  Allocator& pinned_host_allocator() override { return pinned; }
  bool has_pinned_host_memory() const override { return true; }
  CountingAllocator pinned;
};

}  // namespace

TEST_CASE("pinned host memory on the CPU backends is plain host memory") {
  for (const char* device : {"cpu", "cpu-async"}) {
    auto be = kernels::make_backend(device, 1);
    CHECK_FALSE(be->has_pinned_host_memory());
    CHECK(&be->pinned_host_allocator() == &host_allocator());
    Buffer b(be->pinned_host_allocator(), Shape{16}, DType::f32);
    CHECK(b.tensor().device.host_accessible());
    b.as<float>()[15] = 2.0f;  // the host writes it directly
    CHECK(b.as<float>()[15] == 2.0f);
  }
}

TEST_CASE("device spans on the CPU backends record nothing") {
  trace::configure(0, 0, -1);
  const std::int64_t before = trace::event_count();
  auto be = kernels::make_backend("cpu", 1);
  be->device_span_begin();
  be->device_span_end("forward", "phase");
  CHECK(trace::event_count() == before);
  trace::stop();
}

TEST_CASE("device tracks: named tracks, and sources flushed when the trace is written") {
  int flushes = 0;
  const int id = trace::add_device_source([&] {
    ++flushes;
    trace::complete_on_track("test-gpu default stream", "backward", "phase", 1000.0, 1250.0);
  });
  const std::string json = trace::events_json();
  CHECK(flushes == 1);
  CHECK(json.find("\"name\":\"test-gpu default stream\"") != std::string::npos);  // the track's name
  CHECK(json.find("\"name\":\"backward\",\"cat\":\"phase\",\"ph\":\"X\",\"ts\":1000.000,\"dur\":250.000") !=
        std::string::npos);
  trace::remove_device_source(id);
  (void)trace::events_json();
  CHECK(flushes == 1);  // a removed source is not asked again
}

TEST_CASE("batch staging through pinned memory: the same batches, each slot's pinned buffers reused") {
  const data::Dataset d = data::generate({.kind = "heteroscedastic", .n = 40, .seed = 3});
  PinnedCpuBackend pinned;
  auto plain = kernels::make_cpu_backend(1);
  train::BatchAssembler a(pinned, DType::f32), b(*plain, DType::f32);
  for (int round = 0; round < 4; ++round) {
    const std::vector<std::int64_t> index = {round + 0, round + 7, round + 20, 39 - round};
    a.gather(d, index.data(), 4);
    b.gather(d, index.data(), 4);
    CHECK(pinned.read<float>(a.x()) == plain->read<float>(b.x()));
    CHECK(pinned.read<float>(a.target()) == plain->read<float>(b.target()));
    CHECK(pinned.read<float>(a.x())[d.features] == d.x[static_cast<std::size_t>((round + 7) * d.features)]);
    CHECK(pinned.read<std::int64_t>(a.row_ids()) == index);  // the dropout keys, on the device
  }
  CHECK(pinned.pinned.allocations == 6);  // x, y and row ids of each of the two slots, allocated once
}
