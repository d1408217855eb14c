// The CUDA backend's device choice (kernels/cuda_factory.cpp): plain host logic, tested on any machine.
#include <doctest/doctest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "kernels/kernels.hpp"

using hpct::kernels::choose_cuda_device;

TEST_CASE("cuda device choice: local rank modulo the GPUs, --gpu-ids, sharing") {
  CHECK(choose_cuda_device(0, 1, 4, {}, false) == 0);
  CHECK(choose_cuda_device(3, 4, 4, {}, false) == 3);
  CHECK(choose_cuda_device(1, 2, 4, {0, 2}, false) == 2);
  CHECK(choose_cuda_device(0, 2, 4, {0, 2}, false) == 0);
  // More ranks than GPUs: an error naming both counts, unless sharing is allowed.
  try {
    (void)choose_cuda_device(2, 3, 2, {}, false);
    FAIL("expected an error");
  } catch (const hpct::Error& e) {
    const std::string m = e.what();
    CHECK(m.find("3 ranks on this node but 2 GPU(s)") != std::string::npos);
    CHECK(m.find("--allow-gpu-sharing") != std::string::npos);
  }
  CHECK(choose_cuda_device(2, 3, 2, {}, true) == 0);
  CHECK(choose_cuda_device(3, 4, 2, {1}, true) == 1);
  CHECK_THROWS_WITH_AS((void)choose_cuda_device(0, 1, 2, {2}, false), doctest::Contains("GPU 2 does not exist"),
                       hpct::Error);
  CHECK_THROWS_WITH_AS((void)choose_cuda_device(0, 1, 0, {}, false), doctest::Contains("no GPU is visible"),
                       hpct::Error);
}

TEST_CASE("cuda device count: zero with a reason where no GPU is usable") {
  std::string why;
  const int n = hpct::kernels::cuda_device_count(&why);
  CHECK(n >= 0);
  if (n == 0) CHECK(!why.empty());
}

TEST_CASE("make_backend(\"cuda\") without a GPU: an error naming the reason") {
  std::string why;
  if (hpct::kernels::cuda_device_count(&why) > 0) return;  // the gpu-labelled tests cover this machine
  CHECK_THROWS_WITH_AS(hpct::kernels::make_backend("cuda"), doctest::Contains(why.c_str()), hpct::Error);
}
