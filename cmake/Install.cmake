# `cmake --install BUILD --prefix P`: P/bin/hpctrain and the PyTorch converter, the SLURM job
# templates (P/share/hpctrain/slurm), the example configs (P/share/hpctrain/configs), the cluster
# notes (P/share/doc/hpctrain/cluster.md), and an Lmod modulefile P/modules/hpctrain/<version>.lua
# with P filled in (so `module use P/modules` and `module load hpctrain` work). Included at the end
# of the top-level CMakeLists.txt.
include(${CMAKE_CURRENT_LIST_DIR}/Version.cmake)

# Keep the paths of libraries found outside the system directories (a site's MPI or HDF5 module)
# in the installed binary's RUNPATH, so it finds the libraries it was built with.
set_target_properties(hpctrain PROPERTIES INSTALL_RPATH_USE_LINK_PATH TRUE)
install(TARGETS hpctrain RUNTIME DESTINATION bin)
if(HPCTRAIN_HAVE_CUDA)
  install(TARGETS hpctrain_cuda LIBRARY DESTINATION lib/hpctrain)  # found from bin/ (kernels/cuda_plugin.hpp)
endif()
install(PROGRAMS scripts/hpctrain_torch.py DESTINATION bin)
install(PROGRAMS scripts/hpctrain_plot.py DESTINATION share/hpctrain)  # run by `hpctrain plot`
install(DIRECTORY slurm/ DESTINATION share/hpctrain/slurm USE_SOURCE_PERMISSIONS)
install(DIRECTORY configs/ DESTINATION share/hpctrain/configs)
install(FILES docs/cluster.md DESTINATION share/doc/hpctrain)

# The modulefile: build facts are filled in now, the prefix (known only at install time) by the
# install step. The prefix's placeholder survives this first pass by standing for itself.
set(HPCTRAIN_MODULE_DEPENDS "" CACHE STRING
    "Modules the hpctrain modulefile depends_on (e.g. openmpi/4.1;cuda/12.4); empty: commented examples")
execute_process(COMMAND ${MPIEXEC_EXECUTABLE} --version OUTPUT_VARIABLE _mpiexec_version ERROR_QUIET)
string(REGEX REPLACE "\n.*" "" _mpiexec_version "${_mpiexec_version}")
set(HPCTRAIN_MPI_DESCRIPTION "${_mpiexec_version} (${MPIEXEC_EXECUTABLE}, MPI ${MPI_CXX_VERSION})")
if(HPCTRAIN_HAVE_CUDA)
  set(HPCTRAIN_CUDA_DESCRIPTION "CUDA ${CUDAToolkit_VERSION} (${CUDAToolkit_BIN_DIR})")
else()
  set(HPCTRAIN_CUDA_DESCRIPTION "none (CPU-only build)")
endif()
if(HPCTRAIN_MODULE_DEPENDS)
  set(HPCTRAIN_MODULE_DEPENDS_LINES "")
  foreach(_module IN LISTS HPCTRAIN_MODULE_DEPENDS)
    string(APPEND HPCTRAIN_MODULE_DEPENDS_LINES "depends_on(\"${_module}\")\n")
  endforeach()
else()
  set(HPCTRAIN_MODULE_DEPENDS_LINES "-- depends_on(\"openmpi\")   -- your MPI module, e.g. openmpi/4.1\n")
  if(HPCTRAIN_HAVE_CUDA)
    string(APPEND HPCTRAIN_MODULE_DEPENDS_LINES "-- depends_on(\"cuda\")      -- your CUDA module, e.g. cuda/${CUDAToolkit_VERSION_MAJOR}\n")
  endif()
endif()
string(STRIP "${HPCTRAIN_MODULE_DEPENDS_LINES}" HPCTRAIN_MODULE_DEPENDS_LINES)
set(HPCTRAIN_INSTALL_PREFIX "@HPCTRAIN_INSTALL_PREFIX@")
configure_file(modules/hpctrain.lua.in ${PROJECT_BINARY_DIR}/modules/hpctrain.lua.in @ONLY)
install(CODE "
  set(HPCTRAIN_INSTALL_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  set(_modulefile \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/modules/hpctrain/${PROJECT_VERSION}.lua\")
  message(STATUS \"Installing: \${_modulefile}\")
  configure_file(\"${PROJECT_BINARY_DIR}/modules/hpctrain.lua.in\" \"\${_modulefile}\" @ONLY)
  list(APPEND CMAKE_INSTALL_MANIFEST_FILES \"\${_modulefile}\")
")
