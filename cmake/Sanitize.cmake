# Sanitizer and fuzz builds (README: Tests). Both are for tests, not for users' runs.
#   -DHPCTRAIN_SANITIZE=address,undefined  ASan + UBSan (any error aborts the test)
#   -DHPCTRAIN_SANITIZE=thread             TSan (the loader and communicator threads)
#   -DHPCTRAIN_FUZZ=ON                     libFuzzer targets in tests/fuzz (clang only)
# Use them with CMAKE_BUILD_TYPE=Debug: -O1 keeps the sanitized tests fast enough for CI.
set(HPCTRAIN_SANITIZE "" CACHE STRING "Sanitizers to build with: address,undefined or thread")
option(HPCTRAIN_FUZZ "Build the libFuzzer targets of tests/fuzz (clang only)" OFF)

if(HPCTRAIN_SANITIZE)
  add_compile_options(-fsanitize=${HPCTRAIN_SANITIZE} -fno-omit-frame-pointer -O1 -g)
  add_link_options(-fsanitize=${HPCTRAIN_SANITIZE})
  if(HPCTRAIN_SANITIZE MATCHES "undefined")
    # A UBSan report fails the test instead of printing and going on.
    add_compile_options(-fno-sanitize-recover=undefined)
  endif()
endif()

if(HPCTRAIN_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "HPCTRAIN_FUZZ needs clang (libFuzzer): -DCMAKE_CXX_COMPILER=clang++")
  endif()
  # Coverage feedback for libFuzzer in every library; the fuzz targets link the fuzzer's main().
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
