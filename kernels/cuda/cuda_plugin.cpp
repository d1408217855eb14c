// The kernels half of libhpctrain_cuda.so: the table kernels/cuda_factory.cpp asks for
// (kernels/cuda_plugin.hpp). HPCTRAIN_CUDA_PLUGIN_BUILD_ID is set on this file by src/CMakeLists.txt.
#include <memory>
#include <string>

#include "kernels/cuda/cuda_backend.hpp"
#include "kernels/cuda/cuda_system.hpp"
#include "kernels/cuda_plugin.hpp"

namespace {

std::unique_ptr<hpct::kernels::Backend> make_backend(int device, bool tf32) {
  return std::make_unique<hpct::kernels::cuda::CudaBackend>(device, tf32);
}

const hpct::kernels::CudaKernelsPlugin kTable{HPCTRAIN_CUDA_PLUGIN_BUILD_ID, hpct::kernels::cuda::visible_devices,
                                              hpct::kernels::cuda::system_report, hpct::kernels::cuda::device_name,
                                              make_backend};

}  // namespace

extern "C" __attribute__((visibility("default"))) const hpct::kernels::CudaKernelsPlugin* hpctrain_cuda_kernels() {
  return &kTable;
}
