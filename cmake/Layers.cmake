# hpctrain_layer(NAME DIR SOURCE_DIR DEPS ...): one static library per row of the architecture
# (docs/architecture.md), linked only to the rows below it. Each library's include root is a folder
# of its own in the build tree holding a single link, <include-name> -> its source folder, so a
# library sees its own headers and those of the libraries it links, and nothing else: an include that
# points up the table does not compile.
function(hpctrain_layer name include_name source_dir)
  cmake_parse_arguments(L "" "" "DEPS;PRIVATE_DEPS" ${ARGN})
  file(GLOB_RECURSE sources CONFIGURE_DEPENDS ${source_dir}/*.cpp)
  # <source_dir>/cuda/ (the CUDA backend: .cpp and .cu) goes to the CUDA plugin instead, when CUDA is
  # built (cmake/CudaPlugin.cmake).
  list(FILTER sources EXCLUDE REGEX "^${source_dir}/cuda/")
  set(root ${PROJECT_BINARY_DIR}/layers/${name})
  if(HPCTRAIN_HAVE_CUDA AND IS_DIRECTORY ${source_dir}/cuda)
    file(GLOB_RECURSE cuda_sources CONFIGURE_DEPENDS ${source_dir}/cuda/*.cpp ${source_dir}/cuda/*.cu)
    set_property(GLOBAL APPEND PROPERTY HPCTRAIN_CUDA_SOURCES ${cuda_sources})
  endif()
  file(MAKE_DIRECTORY ${root})
  file(CREATE_LINK ${source_dir} ${root}/${include_name} SYMBOLIC)
  add_library(${name} STATIC ${sources})
  target_include_directories(${name} PUBLIC ${root})
  target_link_libraries(${name} PUBLIC ${L_DEPS} PRIVATE ${L_PRIVATE_DEPS} hpctrain_warnings)
  # -fno-math-errno: sqrt/exp need not set errno (we never read it), so loops calling them vectorise
  # (AdamW's update ran 2.3x faster).
  target_compile_options(${name} PRIVATE
                         $<$<AND:$<CONFIG:Release>,$<COMPILE_LANGUAGE:CXX>>:-O3 -march=${HPCTRAIN_MARCH} -fno-math-errno>
                         $<$<AND:$<CONFIG:Release>,$<COMPILE_LANGUAGE:CUDA>>:-O3>)
endfunction()
