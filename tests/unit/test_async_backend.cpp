// The asynchronous CPU backend's execution model (kernels/cpu/cpu_async_backend.hpp): ops run later
// than their call, in stream order, on a worker thread; events and Stream::wait order streams; errors
// surface at the next wait; host waits are counted; device memory is poisoned and host access to it
// refused; destroying the backend completes queued work. Each case makes its own backend, so the
// counts it checks are its own. A gate (a host function that blocks the stream until the test opens
// it) holds ops queued while the test looks at what has not happened yet.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <future>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/buffer.hpp"
#include "core/error.hpp"
#include "core/stream.hpp"
#include "core/tensor.hpp"
#include "kernels/kernels.hpp"
#include "stream_gate.hpp"

using hpct::Buffer;
using hpct::DType;
using hpct::Shape;
using hpct::Tensor;
using namespace hpct::kernels;

namespace {

std::unique_ptr<Backend> async_backend() {
  auto be = make_cpu_async_backend(2);
  REQUIRE(be->name() == "cpu-async");
  REQUIRE(be->device().kind == hpct::DeviceKind::cpu_async);
  return be;
}

using hpct::test::Gate;

Tensor host_view(std::vector<float>& v) { return Tensor(v.data(), Shape{static_cast<std::int64_t>(v.size())}, DType::f32); }

}  // namespace

TEST_CASE("cpu-async: ops run later than their call, in stream order, on another thread") {
  auto be = async_backend();
  Buffer x(be->allocator(), Shape{64}, DType::f32), y(be->allocator(), Shape{64}, DType::f32);
  std::vector<float> out(64, -7.0f);
  std::thread::id worker;
  Gate gate(be->stream());
  be->fill(x, 1.0);
  be->fill(y, 0.25);
  for (int i = 0; i < 200; ++i) be->scale(x, i < 20 ? 2.0 : 1.0);  // past the queue's first capacity
  be->axpy(1.0, y, x);                                             // x = 2^20 + 0.25: only in this order
  be->stream().launch_host([&worker] { worker = std::this_thread::get_id(); });
  be->copy(host_view(out), x);
  // Everything is queued behind the gate: the host destination is untouched.
  for (const float v : out) REQUIRE(v == -7.0f);
  CHECK(be->host_syncs() == 0);
  gate.open();
  be->stream().synchronize();
  CHECK(be->host_syncs() == 1);
  for (const float v : out) CHECK(v == 1048576.25f);
  CHECK(worker != std::thread::id());
  CHECK(worker != std::this_thread::get_id());
  // read_to_host is a copy and one wait.
  const std::vector<float> r = be->read<float>(x);
  CHECK(be->host_syncs() == 2);
  CHECK(r == out);
}

TEST_CASE("cpu-async: Event record, query and synchronize") {
  auto be = async_backend();
  auto e = be->create_event();
  CHECK(e->query());  // never recorded
  e->synchronize();
  CHECK(be->host_syncs() == 1);

  Buffer x(be->allocator(), Shape{16}, DType::f32);
  std::vector<float> out(16, 0.0f);
  {
    Gate gate(be->stream());
    be->fill(x, 3.0);
    be->copy(host_view(out), x);
    e->record(be->stream());
    CHECK_FALSE(e->query());
    be->fill(x, 4.0);  // after the record: not covered by it
    gate.open();
    e->synchronize();
    CHECK(e->query());
    CHECK(be->host_syncs() == 2);
    for (const float v : out) CHECK(v == 3.0f);
  }
  // Re-recording marks the newer point; the event completes with it.
  {
    Gate gate(be->stream());
    e->record(be->stream());
    CHECK_FALSE(e->query());
    gate.open();
    e->synchronize();
    CHECK(e->query());
  }
  CHECK(be->read<float>(x) == std::vector<float>(16, 4.0f));
}

TEST_CASE("cpu-async: Stream::wait orders a compute stream after a copy stream") {
  auto be = async_backend();
  auto copy_stream = be->create_stream();
  auto ready = be->create_event();
  const std::int64_t n = 1000;
  std::vector<float> src(n);
  for (std::int64_t i = 0; i < n; ++i) src[static_cast<std::size_t>(i)] = static_cast<float>(i);
  Buffer buf(be->allocator(), Shape{n}, DType::f32);
  Gate gate(*copy_stream);  // the copy stream is held back: only the wait keeps the compute stream behind it
  {
    StreamGuard on_copy(*be, *copy_stream);
    be->copy(buf, host_view(src));
    ready->record(be->stream());
  }
  CHECK(&be->stream() == &be->default_stream());
  be->default_stream().wait(*ready);
  be->scale(buf, 2.0);
  std::vector<float> out(static_cast<std::size_t>(n), 0.0f);
  be->copy(host_view(out), buf);
  auto done = be->create_event();
  done->record(be->stream());
  CHECK_FALSE(ready->query());
  CHECK_FALSE(done->query());
  gate.open();
  done->synchronize();
  CHECK(ready->query());
  for (std::int64_t i = 0; i < n; ++i) CHECK(out[static_cast<std::size_t>(i)] == 2.0f * static_cast<float>(i));
  // A wait on an event never recorded waits for nothing.
  auto never = be->create_event();
  be->default_stream().wait(*never);
  be->synchronize();
}

TEST_CASE("cpu-async: host access to device memory throws; kernels and read_to_host reach it") {
  auto be = async_backend();
  Buffer b(be->allocator(), Shape{2, 3}, DType::f32);
  CHECK(b.tensor().device.kind == hpct::DeviceKind::cpu_async);
  CHECK_THROWS_WITH_AS(b.as<float>(), doctest::Contains("host access"), hpct::Error);
  CHECK_THROWS_WITH_AS(b.tensor().f32(), doctest::Contains("cpu-async"), hpct::Error);
  CHECK(b.tensor().ptr<float>() == b.tensor().data);  // the kernel accessor
  be->fill(b, 2.5);
  CHECK(be->read<float>(b) == std::vector<float>(6, 2.5f));
}

TEST_CASE("cpu-async: new memory is poisoned (NaN floats, -1 integers)") {
  auto be = async_backend();
  Buffer f(be->allocator(), Shape{33}, DType::f32), d(be->allocator(), Shape{5}, DType::f64),
      i(be->allocator(), Shape{7}, DType::i32);
  for (const float v : be->read<float>(f)) CHECK(std::isnan(v));
  for (const double v : be->read<double>(d)) CHECK(std::isnan(v));
  for (const std::int32_t v : be->read<std::int32_t>(i)) CHECK(v == -1);
  // A reallocation is poisoned again, whatever the memory held before.
  be->fill(f, 0.0);
  f = Buffer(be->allocator(), Shape{33}, DType::f32);
  for (const float v : be->read<float>(f)) CHECK(std::isnan(v));
}

TEST_CASE("cpu-async: an op's error surfaces at the next wait; later ops are skipped until it is reported") {
  auto be = async_backend();
  Buffer y(be->allocator(), Shape{4}, DType::f32);
  be->fill(y, 1.0);

  SUBCASE("a host function's exception, at Stream::synchronize") {
    be->stream().launch_host([] { throw hpct::Error("boom inside an op"); });
    be->fill(y, 5.0);  // skipped
    CHECK_THROWS_WITH_AS(be->stream().synchronize(), "boom inside an op", hpct::Error);
  }
  SUBCASE("a non-hpct exception, at Backend::synchronize") {
    be->stream().launch_host([] { throw std::out_of_range("standard error text"); });
    be->fill(y, 5.0);
    CHECK_THROWS_WITH_AS(be->synchronize(), "standard error text", hpct::Error);
  }
  SUBCASE("an embedding id out of range, at read_to_host") {
    std::vector<std::int32_t> host_ids{0, 7};
    Buffer ids(be->allocator(), Shape{2}, DType::i32), table(be->allocator(), Shape{3, 4}, DType::f32),
        out(be->allocator(), Shape{2, 4}, DType::f32);
    be->copy(ids, Tensor(host_ids.data(), Shape{2}, DType::i32));
    be->fill(table, 0.5);
    be->embedding_forward(ids, table, out);  // returns: the id is checked by the op
    be->fill(y, 5.0);
    std::vector<float> host(4, -1.0f);
    CHECK_THROWS_AS(be->read_to_host(y, host_view(host)), hpct::Error);
    CHECK(host == std::vector<float>(4, -1.0f));  // the copy was skipped too
  }
  SUBCASE("at an event recorded after the op") {
    be->stream().launch_host([] { throw hpct::Error("boom before the event"); });
    auto e = be->create_event();
    e->record(be->stream());
    CHECK_THROWS_WITH_AS(e->synchronize(), "boom before the event", hpct::Error);
    CHECK(e->query());
    CHECK_THROWS_WITH_AS(be->synchronize(), "boom before the event", hpct::Error);
  }
  SUBCASE("taken over by a stream that waited for the failed work") {
    auto other = be->create_stream();
    other->launch_host([] { throw hpct::Error("boom on the copy stream"); });
    auto e = be->create_event();
    e->record(*other);
    be->stream().wait(*e);
    be->fill(y, 5.0);  // depends on the failed work: skipped
    CHECK_THROWS_WITH_AS(be->stream().synchronize(), "boom on the copy stream", hpct::Error);
    CHECK_THROWS_WITH_AS(other->synchronize(), "boom on the copy stream", hpct::Error);
  }
  // Reported, the error is cleared: y kept its value, and the stream runs ops again.
  CHECK_NOTHROW(be->synchronize());
  CHECK(be->read<float>(y) == std::vector<float>(4, 1.0f));
  be->fill(y, 6.0);
  CHECK(be->read<float>(y) == std::vector<float>(4, 6.0f));
}

TEST_CASE("cpu-async: an op called inside a stream's host function runs there, in that stream's order") {
  auto be = async_backend();
  auto side = be->create_stream();
  Buffer x(be->allocator(), Shape{8}, DType::f32);
  Backend& b = *be;
  {
    StreamGuard g(*be, *side);  // the host's current stream is not the one the host function runs on
    be->default_stream().launch_host([&b, &x] {
      b.fill(x, 2.0);
      b.scale(x, 3.0);
    });
  }
  be->scale(x, 0.5);  // default stream, after the host function
  CHECK(be->read<float>(x) == std::vector<float>(8, 3.0f));
}

TEST_CASE("cpu-async: host_syncs counts each host wait on the owning thread, none for enqueues") {
  auto be = async_backend();
  auto s = be->create_stream();
  auto e = be->create_event();
  Buffer x(be->allocator(), Shape{8}, DType::f32);
  std::vector<float> host(8, 0.0f);
  for (int i = 0; i < 50; ++i) be->fill(x, i);
  be->copy(host_view(host), x);
  e->record(be->stream());
  be->stream().wait(*e);
  CHECK(be->host_syncs() == 0);
  be->read_to_host(x, host_view(host));
  CHECK(be->host_syncs() == 1);
  be->stream().synchronize();
  CHECK(be->host_syncs() == 2);
  s->synchronize();
  CHECK(be->host_syncs() == 3);
  e->synchronize();
  CHECK(be->host_syncs() == 4);
  be->synchronize();
  CHECK(be->host_syncs() == 5);
  // Waits on another thread are not the training thread's.
  std::thread([&] {
    s->synchronize();
    e->synchronize();
  }).join();
  CHECK(be->host_syncs() == 5);
  // Freeing memory waits for the streams, but reads nothing: not counted.
  { Buffer tmp(be->allocator(), Shape{4}, DType::f32); }
  CHECK(be->host_syncs() == 5);
}

TEST_CASE("cpu-async: freeing memory waits for the ops queued on it") {
  auto be = async_backend();
  std::vector<float> out(1024, 0.0f);
  {
    Buffer b(be->allocator(), Shape{1024}, DType::f32);
    be->stream().launch_host([] { std::this_thread::sleep_for(std::chrono::milliseconds(30)); });
    be->fill(b, 9.0);
    be->copy(host_view(out), b);
  }  // b is freed here, while the fill and the copy are still queued
  for (const float v : out) CHECK(v == 9.0f);
  CHECK(be->host_syncs() == 0);
}

TEST_CASE("cpu-async: destroying the backend completes the work queued on every stream") {
  std::vector<float> a(256, 0.0f), b(256, 0.0f);
  auto be = async_backend();
  auto side = be->create_stream();
  Buffer x(be->allocator(), Shape{256}, DType::f32);
  const auto slow = [] { std::this_thread::sleep_for(std::chrono::milliseconds(30)); };
  be->stream().launch_host(slow);
  be->fill(x, 7.0);
  be->copy(host_view(a), x);
  auto filled = be->create_event();
  filled->record(be->stream());
  side->launch_host(slow);
  side->wait(*filled);
  {
    StreamGuard g(*be, *side);
    be->copy(host_view(b), x);  // on the side stream, after the fill
  }
  x = Buffer();  // waits for both streams
  be.reset();    // nothing left, but the workers still join
  side.reset();  // a stream outliving its backend is destroyed cleanly
  for (const float v : a) CHECK(v == 7.0f);
  for (const float v : b) CHECK(v == 7.0f);

  // And without any wait before the destruction:
  std::vector<float> c(64, 0.0f), d(64, 0.0f);
  auto be2 = async_backend();
  auto side2 = be2->create_stream();
  be2->stream().launch_host(slow);
  be2->copy(host_view(c), host_view(a).flat_range(0, 64));
  side2->launch_host(slow);
  {
    StreamGuard g(*be2, *side2);
    be2->copy(host_view(d), host_view(a).flat_range(64, 64));
  }
  be2.reset();
  for (const float v : c) CHECK(v == 7.0f);
  for (const float v : d) CHECK(v == 7.0f);  // the side stream's work too, before the stream is gone
  side2.reset();
}

namespace {

std::vector<float> random_floats(std::size_t n, std::uint32_t seed) {
  std::vector<float> v(n);
  std::uint32_t s = seed;
  for (float& x : v) {
    s = s * 1664525u + 1013904223u;
    x = static_cast<float>(s >> 8) / 8388608.0f - 1.0f;  // [-1, 1)
  }
  return v;
}

// A device copy of host data.
Buffer upload(Backend& be, std::vector<float>& host, Shape shape) {
  Buffer b(be.allocator(), shape, DType::f32);
  be.copy(b, Tensor(host.data(), shape, DType::f32));
  return b;
}

}  // namespace

// The worker threads run the CPU kernels with their own OpenMP teams and the arguments copied at
// enqueue time (gemm's epilogue points at the caller's tensors, gone when the op runs): the results
// are the synchronous backend's, bit for bit, also with two streams computing at once.
TEST_CASE("cpu-async: the kernels give the synchronous backend's bits, on two streams at once") {
  const std::int64_t m = 512, k = 96, n = 192;  // big enough for gemm's parallel tiles
  auto a = random_floats(m * k, 1), b = random_floats(k * n, 2), bias = random_floats(n, 3);
  auto gamma = random_floats(n, 4), beta = random_floats(n, 5);
  const auto host = [](std::vector<float>& v, Shape s) { return Tensor(v.data(), s, DType::f32); };

  // The synchronous reference: gemm + bias + gelu, then layernorm of the activation.
  auto cpu = make_cpu_backend(2);
  std::vector<float> c_ref(m * n), y_ref(m * n), ln_ref(m * n), mean_ref(m), rstd_ref(m);
  cpu->gemm_bias_act(host(a, {m, k}), false, host(b, {k, n}), false, host(bias, {n}), Activation::gelu_tanh,
                     host(c_ref, {m, n}), host(y_ref, {m, n}));
  cpu->layernorm_forward(host(y_ref, {m, n}), host(gamma, {n}), host(beta, {n}), host(ln_ref, {m, n}),
                         host(mean_ref, {m}), host(rstd_ref, {m}), 1e-5);

  auto be = async_backend();
  auto second = be->create_stream();
  Buffer da = upload(*be, a, {m, k}), db = upload(*be, b, {k, n}), dbias = upload(*be, bias, {n}),
         dgamma = upload(*be, gamma, {n}), dbeta = upload(*be, beta, {n});
  auto uploaded = be->create_event();
  uploaded->record(be->stream());
  second->wait(*uploaded);
  struct Out {
    Buffer c, y, ln, mean, rstd;
  };
  const auto run = [&](Out& o) {
    be->gemm_bias_act(da, false, db, false, dbias, Activation::gelu_tanh, o.c, o.y);
    be->layernorm_forward(o.y, dgamma, dbeta, o.ln, o.mean, o.rstd, 1e-5);
  };
  const auto make_out = [&] {
    auto& al = be->allocator();
    return Out{Buffer(al, {m, n}, DType::f32), Buffer(al, {m, n}, DType::f32), Buffer(al, {m, n}, DType::f32),
               Buffer(al, {m}, DType::f32), Buffer(al, {m}, DType::f32)};
  };
  Out first_out = make_out(), second_out = make_out();
  run(first_out);
  {
    StreamGuard g(*be, *second);
    run(second_out);
  }
  be->synchronize();
  for (const Out* o : {&first_out, &second_out}) {
    CHECK(be->read<float>(o->c) == c_ref);
    CHECK(be->read<float>(o->y) == y_ref);
    CHECK(be->read<float>(o->ln) == ln_ref);
    CHECK(be->read<float>(o->mean) == mean_ref);
    CHECK(be->read<float>(o->rstd) == rstd_ref);
  }
}
