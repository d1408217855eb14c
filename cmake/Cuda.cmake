# HPCTRAIN_CUDA=AUTO|ON|OFF: AUTO builds the CUDA backend (kernels/cuda/) whenever nvcc is found, ON
# requires it, OFF never enables the CUDA language, so the CPU build never depends on it.
#
# Sets HPCTRAIN_HAVE_CUDA and, when ON, the imported pieces the kernels library links: cuBLAS and
# cuBLASLt (CUDAToolkit targets), cuDNN and NCCL (find_library / find_path: they are not CUDAToolkit
# targets and live in <cuda>/lib here, see /work/shared/TOOLCHAIN.md).
# HPCTRAIN_CUDNN_FRONTEND_DIR: the cuDNN frontend's header-only C++ API (the directory holding
# cudnn_frontend.h; scripts/install-deps unpacks it into third_party/cudnn-frontend/include). Found, the
# CUDA backend runs attention through cuDNN's fused SDPA where it can (kernels/cuda/cuda_sdpa.cpp);
# absent, our attention kernels run every call. Nothing is downloaded at build time.
set(HPCTRAIN_HAVE_CUDA OFF)
set(HPCTRAIN_HAVE_CUDNN_FRONTEND OFF)
if(NOT HPCTRAIN_CUDA STREQUAL "OFF")
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    # Ampere (A100), Hopper (H100/H200), Blackwell (B200). Each architecture is a full device compile of
    # kernels/cuda/*.cu, so development builds pass one (-DCMAKE_CUDA_ARCHITECTURES=90).
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES "80;90;100" CACHE STRING "CUDA architectures of the kernels")
    endif()
    enable_language(CUDA)
    # C++20 as the host code: targets' CXX_STANDARD applies to CUDA too, and CMake 3.25 knows no CUDA20
    # dialect flag for nvcc, so it is named here.
    if(NOT CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
      set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
      set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
    endif()
    find_package(CUDAToolkit REQUIRED)
    get_filename_component(_hpct_cuda_root "${CUDAToolkit_BIN_DIR}" DIRECTORY)
    set(_hpct_cuda_hints ${_hpct_cuda_root}/lib ${_hpct_cuda_root}/lib64 ${CUDAToolkit_LIBRARY_DIR})
    find_library(HPCTRAIN_CUDNN_LIBRARY cudnn HINTS ${_hpct_cuda_hints})
    find_path(HPCTRAIN_CUDNN_INCLUDE cudnn.h HINTS ${CUDAToolkit_INCLUDE_DIRS})
    find_library(HPCTRAIN_NCCL_LIBRARY nccl HINTS ${_hpct_cuda_hints})
    find_path(HPCTRAIN_NCCL_INCLUDE nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS})
    set(_hpct_missing "")
    foreach(v HPCTRAIN_CUDNN_LIBRARY HPCTRAIN_CUDNN_INCLUDE HPCTRAIN_NCCL_LIBRARY HPCTRAIN_NCCL_INCLUDE)
      if(NOT ${v})
        list(APPEND _hpct_missing ${v})
      endif()
    endforeach()
    if(_hpct_missing)
      set(_hpct_msg "cuDNN and NCCL are needed by the CUDA backend; not found: ${_hpct_missing} (searched ${_hpct_cuda_hints} and ${CUDAToolkit_INCLUDE_DIRS}; set the variables or CMAKE_PREFIX_PATH)")
      if(HPCTRAIN_CUDA STREQUAL "ON")
        message(FATAL_ERROR "HPCTRAIN_CUDA=ON: ${_hpct_msg}")
      endif()
      message(WARNING "HPCTRAIN_CUDA=AUTO: building without the CUDA backend. ${_hpct_msg}")
    else()
      set(HPCTRAIN_HAVE_CUDA ON)
      # The libraries the kernels library links when CUDA is on (src/CMakeLists.txt).
      add_library(hpctrain_cuda_libs INTERFACE)
      target_link_libraries(hpctrain_cuda_libs INTERFACE CUDA::cudart CUDA::cublas CUDA::cublasLt
                            ${HPCTRAIN_CUDNN_LIBRARY} ${HPCTRAIN_NCCL_LIBRARY})
      target_include_directories(hpctrain_cuda_libs INTERFACE ${HPCTRAIN_CUDNN_INCLUDE} ${HPCTRAIN_NCCL_INCLUDE})
      find_path(HPCTRAIN_CUDNN_FRONTEND_DIR cudnn_frontend.h
                HINTS ${PROJECT_SOURCE_DIR}/third_party/cudnn-frontend/include /usr/local/include/cudnn_frontend
                DOC "the cuDNN frontend's include directory (cudnn_frontend.h)")
      if(HPCTRAIN_CUDNN_FRONTEND_DIR AND EXISTS "${HPCTRAIN_CUDNN_FRONTEND_DIR}/cudnn_frontend.h")
        set(HPCTRAIN_HAVE_CUDNN_FRONTEND ON)
        # The frontend's headers compile in engines that call NVRTC (runtime compilation), reached or not.
        target_link_libraries(hpctrain_cuda_libs INTERFACE CUDA::nvrtc)
      endif()
    endif()
  elseif(HPCTRAIN_CUDA STREQUAL "ON")
    message(FATAL_ERROR "HPCTRAIN_CUDA=ON but no CUDA compiler was found (is nvcc on PATH, or set CMAKE_CUDA_COMPILER)")
  endif()
endif()
if(HPCTRAIN_HAVE_CUDA)
  message(STATUS "hpctrain: CUDA backend ON (HPCTRAIN_CUDA=${HPCTRAIN_CUDA}, architectures ${CMAKE_CUDA_ARCHITECTURES})")
  if(HPCTRAIN_HAVE_CUDNN_FRONTEND)
    message(STATUS "hpctrain: cuDNN SDPA attention ON (frontend headers in ${HPCTRAIN_CUDNN_FRONTEND_DIR})")
  else()
    message(STATUS "hpctrain: cuDNN SDPA attention OFF (no cuDNN frontend headers: run scripts/install-deps or "
                   "set HPCTRAIN_CUDNN_FRONTEND_DIR); our attention kernels run every call")
  endif()
else()
  message(STATUS "hpctrain: CUDA backend OFF (HPCTRAIN_CUDA=${HPCTRAIN_CUDA})")
endif()
