# The CUDA backend as a plugin, libhpctrain_cuda.so (why: kernels/cuda_plugin.hpp). Included by
# src/CMakeLists.txt after the layers, which handed it their cuda/ sources (cmake/Layers.cmake).
#
# hpctrain_cuda_plugin(LAYERS...): the plugin, built next to build/hpctrain, from the cuda/ sources of
# the layers, with the include roots of LAYERS (those its sources may include). It links the CUDA
# libraries and MPI (shared libraries: one copy in the process) but none of our static libraries: their
# symbols come from the program that loads it (see hpctrain_cuda_plugin_host).
function(hpctrain_cuda_plugin)
  if(NOT HPCTRAIN_HAVE_CUDA)
    return()
  endif()
  get_property(sources GLOBAL PROPERTY HPCTRAIN_CUDA_SOURCES)
  add_library(hpctrain_cuda MODULE ${sources})
  foreach(layer ${ARGN})
    target_include_directories(hpctrain_cuda PRIVATE ${PROJECT_BINARY_DIR}/layers/${layer})
  endforeach()
  target_link_libraries(hpctrain_cuda PRIVATE hpctrain_cuda_libs MPI::MPI_CXX Threads::Threads hpctrain_warnings)
  target_compile_options(hpctrain_cuda PRIVATE
                         $<$<AND:$<CONFIG:Release>,$<COMPILE_LANGUAGE:CXX>>:-O3 -march=${HPCTRAIN_MARCH} -fno-math-errno>
                         $<$<AND:$<CONFIG:Release>,$<COMPILE_LANGUAGE:CUDA>>:-O3>)
  set_target_properties(hpctrain_cuda PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}
                        INSTALL_RPATH_USE_LINK_PATH TRUE)
  if(HPCTRAIN_HAVE_CUDNN_FRONTEND)
    # cuda_sdpa.cpp alone includes the cuDNN frontend (cmake/Cuda.cmake), as system headers: their
    # warnings are not ours.
    set_source_files_properties(${PROJECT_SOURCE_DIR}/kernels/cuda/cuda_sdpa.cpp TARGET_DIRECTORY hpctrain_cuda
                                PROPERTIES COMPILE_DEFINITIONS HPCTRAIN_HAVE_CUDNN_FRONTEND=1
                                           COMPILE_OPTIONS "-isystem;${HPCTRAIN_CUDNN_FRONTEND_DIR}")
  endif()
  # A build id, drawn once per build tree, that the program checks in the plugin's tables: a plugin from
  # another build would share no ABI with it (within one tree, make rebuilds both). Kept in the cache:
  # a new id at each configure would change the compile flags of every object of the kernels library
  # and the plugin (make's per-target flags file), and so rebuild them all.
  if(NOT HPCTRAIN_CUDA_PLUGIN_BUILD_ID)
    string(RANDOM LENGTH 16 ALPHABET 0123456789abcdef new_id)
    set(HPCTRAIN_CUDA_PLUGIN_BUILD_ID ${new_id} CACHE INTERNAL "the CUDA plugin's build id (cmake/CudaPlugin.cmake)")
  endif()
  set(id ${HPCTRAIN_CUDA_PLUGIN_BUILD_ID})
  set_source_files_properties(${PROJECT_SOURCE_DIR}/kernels/cuda/cuda_plugin.cpp
                              ${PROJECT_SOURCE_DIR}/src/parallel/cuda/nccl_plugin.cpp
                              TARGET_DIRECTORY hpctrain_cuda PROPERTIES COMPILE_DEFINITIONS HPCTRAIN_CUDA_PLUGIN_BUILD_ID="${id}")
  set_source_files_properties(${PROJECT_SOURCE_DIR}/kernels/cuda_plugin_loader.cpp TARGET_DIRECTORY hpctrain_kernels
                              PROPERTIES COMPILE_DEFINITIONS
                              "HPCTRAIN_HAVE_CUDA=1;HPCTRAIN_CUDA_PLUGIN_BUILD_ID=\"${id}\";HPCTRAIN_CUDA_PLUGIN_BUILD_PATH=\"$<TARGET_FILE:hpctrain_cuda>\"")
endfunction()

# hpctrain_cuda_plugin_host(TARGET): an executable that may load the plugin (it calls the CUDA
# factories): it exports its symbols to the plugin (-rdynamic) and holds every object of the layers
# the plugin uses, not only those it calls itself (--whole-archive), so that loading never meets an
# undefined symbol; and building it builds the plugin.
function(hpctrain_cuda_plugin_host target)
  if(NOT HPCTRAIN_HAVE_CUDA)
    return()
  endif()
  set(layers hpctrain_core_lib hpctrain_kernels hpctrain_params hpctrain_parallel)
  set_target_properties(${target} PROPERTIES ENABLE_EXPORTS ON)
  set(archives)
  foreach(layer ${layers})
    list(APPEND archives $<TARGET_FILE:${layer}>)
  endforeach()
  target_link_options(${target} PRIVATE "LINKER:--whole-archive" ${archives} "LINKER:--no-whole-archive")
  target_link_libraries(${target} PRIVATE ${layers})
  add_dependencies(${target} hpctrain_cuda)
endfunction()
