// Exit 0 and print the GPU count when the CUDA backend can run here; else print why and exit 77 (ctest's
// SKIP_RETURN_CODE for the gpu-labelled tests): the build has no CUDA backend, or CUDA's error (no
// driver, no device).
#include <cstdio>
#include <string>

#include "kernels/kernels.hpp"

int main() {
  std::string why;
  const int n = hpct::kernels::cuda_device_count(&why);
  if (n == 0) {
    std::printf("skipped: no GPU (%s)\n", why.c_str());
    return 77;
  }
  std::printf("%d GPU(s) usable\n", n);
  return 0;
}
