#pragma once
// Helpers shared by the model-side tests (layers, models, losses, optimizers, batches): the backend
// under test, chosen by HPCTRAIN_TEST_DEVICE (see test_device(); cpu by default, or cpu-async: device memory the host may
// not touch, ops on a worker thread), host data uploaded into its memory and read back, single elements
// set in place, and a workspace for running one layer's forward and backward.
//
// The tests are device-agnostic: they touch model memory only through these helpers (Backend::copy
// and Backend::read), so the same checks run unchanged on the synchronous and the asynchronous backend.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "core/buffer.hpp"
#include "core/workspace.hpp"
#include "kernels/kernels.hpp"
#include "nn/layer.hpp"

namespace hpct::test {

// HPCTRAIN_TEST_DEVICE, else HPCTRAIN_DEVICE (what the CLI's --device auto picks, set by the CLI scripts'
// async runs, which also run the PyTorch reference checkers), else "cpu".
inline std::string test_device() {
  for (const char* name : {"HPCTRAIN_TEST_DEVICE", "HPCTRAIN_DEVICE"})
    if (const char* d = std::getenv(name); d && *d) return d;
  return "cpu";
}

// The backend under test, one per process. One thread, as these tests always ran: the results are
// those of the single-threaded kernels, and a team of threads on busy cores only waits for itself.
inline kernels::Backend& test_backend() {
  static const std::unique_ptr<kernels::Backend> backend = kernels::make_backend(test_device(), 1);
  return *backend;
}

// A buffer in be's memory holding `host` (numel(shape) values). The copy is waited for, so the host
// array may go as soon as this returns.
template <class T>
Buffer upload(kernels::Backend& be, const std::vector<T>& host, Shape shape) {
  HPCT_CHECK(static_cast<std::int64_t>(host.size()) == shape.numel(), "upload: ", host.size(), " values for ",
             shape.str());
  Buffer b(be.allocator(), shape, dtype_of<T>());
  be.copy(b, Tensor(const_cast<T*>(host.data()), shape, dtype_of<T>()));
  be.synchronize();
  return b;
}
template <class T>
Buffer upload(kernels::Backend& be, const std::vector<T>& host) {
  return upload(be, host, Shape{static_cast<std::int64_t>(host.size())});
}

// t (be's memory) = host, waited for.
template <class T>
void write(kernels::Backend& be, const Tensor& t, const std::vector<T>& host) {
  HPCT_CHECK(static_cast<std::int64_t>(host.size()) == t.numel(), "write: ", host.size(), " values for ",
             t.shape.str());
  be.copy(t, Tensor(const_cast<T*>(host.data()), t.shape, dtype_of<T>()));
  be.synchronize();
}

// Element i of the flattened tensor t (be's memory), read back.
template <class T>
T element(kernels::Backend& be, const Tensor& t, std::int64_t i) {
  return be.read<T>(t.flat_range(i, 1))[0];
}

// Element i of the flattened tensor t (be's memory) = value, waited for.
template <class T>
void set_element(kernels::Backend& be, const Tensor& t, std::int64_t i, T value) {
  be.copy(t.flat_range(i, 1), Tensor(&value, Shape{1}, dtype_of<T>()));
  be.synchronize();
}

// One layer's passes: a workspace on be and the Exec of the current pass. begin() starts a pass (the
// workspace is reset, earlier outputs are invalid); exec() continues it (the backward).
struct LayerPass {
  kernels::Backend& be;
  Workspace ws;
  nn::Pass pass;
  explicit LayerPass(kernels::Backend& b) : be(b), ws(b.allocator()) {}
  nn::Exec begin(nn::Pass p = {}) {
    ws.reset();
    pass = p;
    return nn::Exec{be, ws, pass};
  }
  nn::Exec exec() { return nn::Exec{be, ws, pass}; }
};

}  // namespace hpct::test
