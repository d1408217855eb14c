// Run under mpirun (-np 1, 2, 4): every rank runs these cases against the real MPI world.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "core/buffer.hpp"
#include "kernels/kernels.hpp"
#include "parallel/world.hpp"

using namespace hpct;
using namespace std::chrono_literals;

namespace {
dist::Communicator& comm() { return dist::World::get().comm(); }
}  // namespace

TEST_CASE("topology is consistent") {
  const auto& t = dist::World::get().topology();
  CHECK(t.size == comm().size());
  CHECK(t.rank == comm().rank());
  CHECK(t.local_rank < t.local_size);
  CHECK(t.nodes >= 1);
  CHECK(t.nodes * t.local_size >= t.size);  // one host here: nodes 1, local_size = size
}

TEST_CASE("allreduce sum and average, several in flight, complete in order") {
  const int p = comm().size(), r = comm().rank();
  std::vector<float> a(1000), b(7);
  std::vector<double> c(3);
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(r + i);
  std::fill(b.begin(), b.end(), static_cast<float>(r));
  std::fill(c.begin(), c.end(), 2.0 * r);
  auto h1 = comm().allreduce(Tensor(a.data(), Shape{1000}, DType::f32), dist::ReduceOp::sum);
  auto h2 = comm().allreduce(Tensor(b.data(), Shape{7}, DType::f32), dist::ReduceOp::average);
  auto h3 = comm().allreduce(Tensor(c.data(), Shape{3}, DType::f64), dist::ReduceOp::sum);
  h3->wait_host();
  CHECK(h1->done());  // issue order is completion order
  h1->wait_host();
  h2->wait_host();
  const double rank_sum = p * (p - 1) / 2.0;
  CHECK(a[0] == doctest::Approx(rank_sum));
  CHECK(a[999] == doctest::Approx(rank_sum + 999.0 * p));
  CHECK(b[3] == doctest::Approx(rank_sum / p));
  CHECK(c[2] == doctest::Approx(2 * rank_sum));
}

TEST_CASE("broadcast, allgather, reduce_scatter, barrier") {
  const int p = comm().size(), r = comm().rank();
  std::vector<std::int64_t> v = {r == 0 ? 42 : -1, r == 0 ? 7 : -1};
  comm().broadcast(Tensor(v.data(), Shape{2}, DType::i64), 0)->wait_host();
  CHECK(v == std::vector<std::int64_t>{42, 7});

  std::vector<std::int32_t> mine = {r, 10 * r}, all(2 * p);
  comm().allgather(Tensor(mine.data(), Shape{2}, DType::i32), Tensor(all.data(), Shape{2 * p}, DType::i32))->wait_host();
  for (int q = 0; q < p; ++q) {
    CHECK(all[2 * q] == q);
    CHECK(all[2 * q + 1] == 10 * q);
  }

  std::vector<float> send(3 * p), recv(3);
  std::iota(send.begin(), send.end(), 0.0f);  // the same on every rank
  comm().reduce_scatter(Tensor(send.data(), Shape{3 * p}, DType::f32), Tensor(recv.data(), Shape{3}, DType::f32),
                        dist::ReduceOp::sum)->wait_host();
  for (int i = 0; i < 3; ++i) CHECK(recv[i] == doctest::Approx(p * (3.0 * r + i)));
  comm().barrier()->wait_host();
}

TEST_CASE("split into groups: even and odd ranks reduce separately") {
  const int r = comm().rank();
  auto group = comm().split(r % 2, r);
  CHECK(group->rank() == r / 2);
  float x = 1.0f;
  group->allreduce(Tensor(&x, Shape{1}, DType::f32), dist::ReduceOp::sum)->wait_host();
  CHECK(x == static_cast<float>(group->size()));
}

TEST_CASE("a collective that a peer never joins times out with a message naming the rank") {
  if (comm().size() < 2) return;
  // Only rank 0 enters the barrier at first, so its wait must time out with a clear message; the
  // other ranks join afterwards, so that every communication thread can finish.
  auto pair = comm().split(0, comm().rank());
  pair->set_timeout(300ms);
  if (comm().rank() == 0) {
    auto h = pair->barrier();
    CHECK_THROWS_WITH_AS(h->wait_host(), doctest::Contains("rank 0: barrier did not complete"), Error);
  }
  comm().barrier()->wait_host();  // everyone: rank 0 has seen its timeout
  if (comm().rank() != 0) pair->barrier()->wait_host();  // now complete rank 0's barrier so all threads can end
}

TEST_CASE("zero-copy allreduce through a shared-memory window: sums, averages, ranges, in order") {
  const int p = comm().size(), r = comm().rank();
  auto shared = comm().make_reduction_buffer(10000, DType::f32);
  if (p == 1) {
    CHECK(shared == nullptr);  // one rank: nothing to share
    return;
  }
  REQUIRE(shared != nullptr);  // every rank of these tests is on this one node
  const Tensor t = shared->tensor();
  float* x = t.f32();
  for (int i = 0; i < 10000; ++i) x[i] = static_cast<float>((r + 1) * (i % 97));
  // Ranges as DDP buckets: the last ones first, sizes not multiples of the rank count, one tiny.
  auto h1 = comm().allreduce(t.flat_range(6000, 4000), dist::ReduceOp::average);
  auto h2 = comm().allreduce(t.flat_range(17, 5983), dist::ReduceOp::sum);
  auto h3 = comm().allreduce(t.flat_range(0, 17), dist::ReduceOp::sum);
  h3->wait_host();
  CHECK(h1->done());
  h2->wait_host();
  const float ranks = static_cast<float>(p * (p + 1) / 2);  // sum of (r + 1)
  int wrong = 0;
  for (int i = 0; i < 10000; ++i) {
    const float want = static_cast<float>(i % 97) * ranks / (i >= 6000 ? static_cast<float>(p) : 1.0f);
    wrong += x[i] != doctest::Approx(want);
  }
  CHECK(wrong == 0);
  // A buffer outside the window still goes through MPI.
  std::vector<float> plain(5, 1.0f);
  comm().allreduce(Tensor(plain.data(), Shape{5}, DType::f32), dist::ReduceOp::sum)->wait_host();
  CHECK(plain[4] == static_cast<float>(p));
}

TEST_CASE("reduce_scatter and allgather in a shared window: the window allreduce's bits; in-place allgather") {
  const int p = comm().size(), r = comm().rank();
  if (p == 1) return;
  auto c = comm().split(0, r);
  const std::int64_t n = 3000;  // elements per rank's block
  auto shared = c->make_reduction_buffer(n * p, DType::f32);
  REQUIRE(shared != nullptr);
  float* x = shared->tensor().f32();
  for (std::int64_t i = 0; i < n * p; ++i)
    x[i] = static_cast<float>((r + 1) * (i % 89)) + 1.0f / static_cast<float>(3 + r + i % 7);
  std::vector<float> plain(x, x + n * p), block(static_cast<std::size_t>(n)), mpi_block(static_cast<std::size_t>(n));
  c->reduce_scatter(shared->tensor(), Tensor(block.data(), Shape{n}, DType::f32), dist::ReduceOp::average)->wait_host();
  c->reduce_scatter(Tensor(plain.data(), Shape{n * p}, DType::f32), Tensor(mpi_block.data(), Shape{n}, DType::f32),
                    dist::ReduceOp::average)->wait_host();
  c->allreduce(shared->tensor(), dist::ReduceOp::average)->wait_host();
  CHECK(std::equal(block.begin(), block.end(), x + r * n));  // the same sums, in the same order
  int wrong = 0;
  for (std::int64_t i = 0; i < n; ++i) wrong += block[i] != doctest::Approx(mpi_block[i]).epsilon(1e-6);
  CHECK(wrong == 0);

  // Every rank's send at the same offset of its window: the peers copy it from there.
  for (std::int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(1000 * r + i);
  std::vector<float> all(static_cast<std::size_t>(n * p));
  c->allgather(shared->tensor().flat_range(0, n), Tensor(all.data(), Shape{n * p}, DType::f32))->wait_host();
  // In place: the send is this rank's block of recv.
  std::vector<float> flat(static_cast<std::size_t>(n * p), -1.0f);
  for (std::int64_t i = 0; i < n; ++i) flat[r * n + i] = static_cast<float>(7 * r + i);
  c->allgather(Tensor(flat.data() + r * n, Shape{n}, DType::f32), Tensor(flat.data(), Shape{n * p}, DType::f32))
      ->wait_host();
  for (int q = 0; q < p; ++q) {
    CHECK(all[q * n + 17] == static_cast<float>(1000 * q + 17));
    CHECK(flat[q * n + n - 1] == static_cast<float>(7 * q + n - 1));
  }
  shared.reset();
}

TEST_CASE("node-aware allreduce (forced on, nodes of 1 and 2 ranks): sums, averages, the same bits on every rank") {
  const int p = comm().size(), r = comm().rank();
  if (p == 1) return;
  for (const char* k : {"1", "2"}) {
    CAPTURE(k);
    setenv("HPCTRAIN_RANKS_PER_NODE", k, 1);  // read by make_reduction_buffer only
    auto c = comm().split(0, r);
    c->set_hierarchy(dist::Hierarchy::on);
    auto shared = c->make_reduction_buffer(5000, DType::f32);
    unsetenv("HPCTRAIN_RANKS_PER_NODE");
    REQUIRE(shared != nullptr);
    float* x = shared->tensor().f32();
    for (int i = 0; i < 5000; ++i) x[i] = static_cast<float>((r + 1) * (i % 89)) + 1.0f / static_cast<float>(3 + r + i % 7);
    std::vector<float> want(x, x + 5000);  // flat MPI on a plain copy: the reference
    c->allreduce(Tensor(want.data(), Shape{3000}, DType::f32), dist::ReduceOp::average)->wait_host();
    c->allreduce(Tensor(want.data() + 3000, Shape{2000}, DType::f32), dist::ReduceOp::sum)->wait_host();
    auto h1 = c->allreduce(shared->tensor().flat_range(3000, 2000), dist::ReduceOp::sum);
    auto h2 = c->allreduce(shared->tensor().flat_range(0, 3000), dist::ReduceOp::average);
    h2->wait_host();
    CHECK(h1->done());
    int wrong = 0;
    for (int i = 0; i < 5000; ++i) wrong += x[i] != doctest::Approx(want[static_cast<std::size_t>(i)]).epsilon(1e-6);
    CHECK(wrong == 0);
    // Every rank holds the leader's bits (a non-leader that missed the copy would differ).
    std::vector<float> all(static_cast<std::size_t>(p) * 5000);
    c->allgather(shared->tensor(), Tensor(all.data(), Shape{p * 5000}, DType::f32))->wait_host();
    for (int q = 1; q < p; ++q)
      CHECK(std::equal(all.begin(), all.begin() + 5000, all.begin() + q * 5000));
    shared.reset();
  }
}

TEST_CASE("a zero-copy allreduce that a peer never joins times out on every rank, naming it") {
  if (comm().size() < 2) return;
  auto pair = comm().split(0, comm().rank());
  auto shared = pair->make_reduction_buffer(64, DType::f32);
  REQUIRE(shared != nullptr);
  pair->set_timeout(300ms);
  // The error of h->wait_host() once this rank's communication thread has given up too (it keeps the same
  // timeout). The waiter may have run the allreduce itself (its message then says which phase
  // stalled) or found the communication thread running it.
  auto error_of = [](const dist::Handle& h) {
    std::string msg = "<no error>";
    try {
      h->wait_host();
    } catch (const Error& e) {
      msg = e.what();
    }
    while (!h->done()) std::this_thread::sleep_for(10ms);
    return msg;
  };
  const std::string me = "rank " + std::to_string(comm().rank()) + ": ";
  if (comm().rank() == 0) {  // alone: its peers' gradients never arrive
    const std::string msg = error_of(pair->allreduce(shared->tensor(), dist::ReduceOp::sum));
    CHECK(msg.rfind(me, 0) == 0);
    CHECK(msg.find("did not complete within 0.3 s") != std::string::npos);
  }
  comm().barrier()->wait_host();
  if (comm().rank() != 0) {  // late: rank 0 has given up, so its reduced slice never comes
    const std::string msg = error_of(pair->allreduce(shared->tensor(), dist::ReduceOp::sum));
    CHECK(msg.rfind(me, 0) == 0);
    CHECK(msg.find("did not complete within 0.3 s") != std::string::npos);
  }
  pair->set_timeout(300s);
  comm().barrier()->wait_host();
}

TEST_CASE("collectives on device memory are ordered by events: after the producing op, before the consumer") {
  // The asynchronous CPU backend: ops run later on a worker thread. The allreduce must wait for the
  // fill recorded before its event (else it reduces stale data), and the scale after Work::wait(stream)
  // must see the reduced values; the host never waits until the final read.
  const int p = comm().size(), r = comm().rank();
  auto be = kernels::make_backend("cpu-async", 1);
  Buffer x(be->allocator(), Shape{4096}, DType::f32);
  std::shared_ptr<Event> ready = be->create_event();
  be->stream().launch_host([] { std::this_thread::sleep_for(50ms); });  // a slow producer
  be->fill(x, static_cast<double>(r + 1));
  ready->record(be->stream());
  const std::int64_t syncs = be->host_syncs();
  auto h = comm().allreduce(x, dist::ReduceOp::sum, ready);
  h->wait(be->stream());
  be->scale(x, 2.0);
  CHECK(be->host_syncs() == syncs);  // nothing above waited on the host
  const std::vector<float> got = be->read<float>(x);
  CHECK(got[0] == static_cast<float>(p * (p + 1)));  // 2 * sum of (r + 1)
  CHECK(got[4095] == static_cast<float>(p * (p + 1)));
}

TEST_CASE("16-bit sums through MPI and the shared-memory window add in float and round once") {
  const int p = comm().size(), r = comm().rank();
  // 1 + r 2^-9: a bf16 ulp at 1 is 2^-7, so each rank's term alone would round away; the exact sum
  // rounds to nearest once.
  for (const DType t : {DType::bf16, DType::f16}) {
    CAPTURE(name_of(t));
    const auto store = [&](float v) -> std::uint16_t { return t == DType::bf16 ? to_bf16(v).bits : to_f16(v).bits; };
    const auto load = [&](std::uint16_t b) { return t == DType::bf16 ? to_float(bf16{b}) : to_float(f16{b}); };
    float exact = 0.0f;
    for (int q = 0; q < p; ++q) exact += load(store(1.0f + static_cast<float>(q) / 512.0f));
    std::vector<std::uint16_t> v(33, store(1.0f + static_cast<float>(r) / 512.0f));
    comm().allreduce(Tensor(v.data(), Shape{33}, t), dist::ReduceOp::sum)->wait_host();
    CHECK(load(v[32]) == load(store(exact)));
    auto shared = comm().make_reduction_buffer(33, t);
    if (!shared) continue;  // one rank
    auto* w = static_cast<std::uint16_t*>(shared->tensor().data);
    std::fill(w, w + 33, store(1.0f + static_cast<float>(r) / 512.0f));
    comm().allreduce(shared->tensor(), dist::ReduceOp::average)->wait_host();
    CHECK(load(w[0]) == load(store(exact / static_cast<float>(p))));
  }
}

int main(int argc, char** argv) {
  dist::World::init(&argc, &argv);
  doctest::Context ctx(argc, argv);
  // Rank 0 reports; HPCTRAIN_TEST_ALL_RANKS=1 shows every rank's report (to debug one rank).
  if (dist::World::get().rank() != 0 && !std::getenv("HPCTRAIN_TEST_ALL_RANKS")) ctx.setOption("out", "/dev/null");
  int failed = ctx.run();
  // Every rank's verdict counts: the job fails if any rank failed.
  comm().allreduce(Tensor(&failed, Shape{1}, DType::i32), dist::ReduceOp::sum)->wait_host();
  return failed ? 1 : 0;
}
