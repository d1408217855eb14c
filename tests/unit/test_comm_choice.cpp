// --dist.backend (parallel/comm_choice.cpp): which communicator carries the gradient collectives.
// Plain host logic, tested on any machine; the NCCL communicator itself needs GPUs (ctest -L gpu).
#include <doctest/doctest.h>

#include "core/error.hpp"
#include "parallel/comm_choice.hpp"

using hpct::DeviceKind;
using hpct::dist::choose_comm_backend;
using hpct::dist::CommBackend;

TEST_CASE("dist.backend: auto is nccl only on cuda with several ranks in a build with NCCL") {
  CHECK(choose_comm_backend("auto", DeviceKind::cuda, 2, true) == CommBackend::nccl);
  CHECK(choose_comm_backend("auto", DeviceKind::cuda, 1, true) == CommBackend::mpi);
  CHECK(choose_comm_backend("auto", DeviceKind::cpu, 4, true) == CommBackend::mpi);
  CHECK(choose_comm_backend("auto", DeviceKind::cpu_async, 4, true) == CommBackend::mpi);
  CHECK(choose_comm_backend("auto", DeviceKind::cuda, 4, false) == CommBackend::mpi);
  CHECK(choose_comm_backend("mpi", DeviceKind::cuda, 4, true) == CommBackend::mpi);
  CHECK(choose_comm_backend("nccl", DeviceKind::cuda, 1, true) == CommBackend::nccl);
}

TEST_CASE("dist.backend: nccl off a GPU, without NCCL, or an unknown name is an error naming the option") {
  CHECK_THROWS_WITH_AS(choose_comm_backend("nccl", DeviceKind::cpu, 2, true),
                       doctest::Contains("--dist.backend nccl: needs --device cuda (the device is cpu)"), hpct::Error);
  CHECK_THROWS_WITH_AS(choose_comm_backend("nccl", DeviceKind::cuda, 2, false),
                       doctest::Contains("built without CUDA/NCCL"), hpct::Error);
  CHECK_THROWS_WITH_AS(choose_comm_backend("gloo", DeviceKind::cuda, 2, true),
                       doctest::Contains("--dist.backend: expected auto, mpi or nccl, got 'gloo'"), hpct::Error);
}

TEST_CASE("dist.backend: this build says whether it has NCCL") {
#ifdef HPCTRAIN_TEST_HAVE_CUDA
  CHECK(hpct::dist::nccl_built());
#else
  CHECK_FALSE(hpct::dist::nccl_built());
#endif
}
