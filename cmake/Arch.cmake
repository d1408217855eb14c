# The instruction set our own loops are compiled for (OpenBLAS picks its kernels at run time either
# way). HPC builds target the nodes they run on: x86-64-v3 (AVX2, FMA; every x86 HPC node since 2013)
# when the build host has it, else x86-64-v2. Elementwise kernels (GELU, softmax, LayerNorm, AdamW)
# run 15-25% faster per transformer block with v3 here. Override with -DHPCTRAIN_MARCH=... (e.g.
# x86-64-v2 to build on a newer machine for older nodes, or native).
if(NOT DEFINED HPCTRAIN_MARCH)
  set(_march x86-64-v2)
  if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64" AND EXISTS /proc/cpuinfo)
    file(STRINGS /proc/cpuinfo _flags REGEX "^flags" LIMIT_COUNT 1)
    if(_flags MATCHES " avx2" AND _flags MATCHES " fma" AND _flags MATCHES " bmi2" AND _flags MATCHES " movbe")
      set(_march x86-64-v3)
    endif()
  endif()
  set(HPCTRAIN_MARCH ${_march} CACHE STRING "-march for hpctrain's own code (x86-64-v2, x86-64-v3, native, ...)")
endif()
message(STATUS "hpctrain: -march=${HPCTRAIN_MARCH}")
