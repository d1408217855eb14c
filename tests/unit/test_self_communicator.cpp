// The world of one process started without an MPI launcher: collectives are copies or nothing.
#include <doctest/doctest.h>

#include <vector>

#include "parallel/self_communicator.hpp"
#include "test_support.hpp"

using namespace hpct;

TEST_CASE("SelfCommunicator: collectives over one rank") {
  dist::SelfCommunicator c;
  CHECK(c.rank() == 0);
  CHECK(c.size() == 1);
  std::vector<float> x = {1.5f, -2.0f};
  auto h = c.allreduce(Tensor(x.data(), Shape{2}, DType::f32), dist::ReduceOp::average);
  CHECK(h->done());
  h->wait_host();
  CHECK(x == std::vector<float>{1.5f, -2.0f});
  std::vector<float> got(2, 0.0f);
  c.allgather(Tensor(x.data(), Shape{2}, DType::f32), Tensor(got.data(), Shape{2}, DType::f32))->wait_host();
  CHECK(got == x);
  std::vector<float> wrong(3);
  test::check_throws_with([&] { c.allgather(Tensor(x.data(), Shape{2}, DType::f32), Tensor(wrong.data(), Shape{3}, DType::f32)); },
                          "allgather: recv has 3");
  test::check_throws_with([&] { c.broadcast(Tensor(x.data(), Shape{2}, DType::f32), 1); }, "root 1");
  auto sub = c.split(3, 0);
  CHECK(sub->size() == 1);
  CHECK(c.make_reduction_buffer(16, DType::f32) == nullptr);
}
