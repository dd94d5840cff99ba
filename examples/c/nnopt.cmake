# CMake functions for nnopt models in firmware builds.
#
#   include(path/to/nnopt.cmake)
#   nnopt_add_model(kws MODEL models/kws.tflite [PREFIX kws] [ARGS --target npu-512 ...])
#   target_link_libraries(app PRIVATE kws nnopt::runtime)
#
# nnopt_add_model(<target> MODEL <file> [PREFIX <name>] [ARGS <nnopt compile flags>...])
#   Compiles MODEL at build time with `nnopt compile MODEL --emit c` into
#   ${CMAKE_CURRENT_BINARY_DIR}/<target>/ and adds the static library <target> of its
#   model.c, whose include directory holds model.h (macros PREFIX_ARENA_SIZE,
#   PREFIX_INPUT0_SHAPE, ..., the array prefix_data; PREFIX defaults to nnopt_model).
#   The model is recompiled when the file changes.
#
# nnopt::runtime is the firmware runtime's static library (libnnoptrt.a) with nnopt.h,
# built from the nnopt repository NNOPT_ROOT with cargo. NNOPT (the nnopt command) and
# NNOPT_RUNTIME_LIB (a prebuilt library, e.g. for a cross target) can be set instead.

set(NNOPT_ROOT "${CMAKE_CURRENT_LIST_DIR}/../.." CACHE PATH "The nnopt repository")
get_filename_component(NNOPT_ROOT "${NNOPT_ROOT}" ABSOLUTE)
find_program(NNOPT nnopt HINTS "${NNOPT_ROOT}/target/release" DOC "The nnopt command")
if(NOT NNOPT)
  message(FATAL_ERROR "nnopt not found: build it (cargo build --release) or set -DNNOPT=path/to/nnopt")
endif()

if(NOT TARGET nnopt::runtime)
  if(NOT NNOPT_RUNTIME_LIB)
    find_program(CARGO cargo REQUIRED)
    set(NNOPT_RUNTIME_LIB "${NNOPT_ROOT}/target/release/libnnoptrt.a")
    add_custom_target(nnopt_runtime_build
      COMMAND "${CARGO}" build --release -p nnopt-rt-c
      WORKING_DIRECTORY "${NNOPT_ROOT}"
      BYPRODUCTS "${NNOPT_RUNTIME_LIB}"
      COMMENT "Building the nnopt firmware runtime (libnnoptrt.a)"
      VERBATIM)
  endif()
  add_library(nnopt::runtime STATIC IMPORTED GLOBAL)
  set_target_properties(nnopt::runtime PROPERTIES
    IMPORTED_LOCATION "${NNOPT_RUNTIME_LIB}"
    INTERFACE_INCLUDE_DIRECTORIES "${NNOPT_ROOT}/rt/capi/include")
  if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
    # What a hosted Rust static library needs from the C library.
    set_property(TARGET nnopt::runtime PROPERTY INTERFACE_LINK_LIBRARIES pthread dl m)
  endif()
  if(TARGET nnopt_runtime_build)
    add_dependencies(nnopt::runtime nnopt_runtime_build)
  endif()
endif()

function(nnopt_add_model target)
  cmake_parse_arguments(ARG "" "MODEL;PREFIX" "ARGS" ${ARGN})
  if(NOT ARG_MODEL)
    message(FATAL_ERROR "nnopt_add_model(${target}): MODEL <file> is required")
  endif()
  if(NOT ARG_PREFIX)
    set(ARG_PREFIX nnopt_model)
  endif()
  get_filename_component(model "${ARG_MODEL}" ABSOLUTE)
  set(dir "${CMAKE_CURRENT_BINARY_DIR}/${target}")
  add_custom_command(
    OUTPUT "${dir}/model.c" "${dir}/model.h"
    COMMAND "${NNOPT}" compile "${model}" --emit c -o "${dir}" --c-prefix "${ARG_PREFIX}" ${ARG_ARGS}
    DEPENDS "${model}"
    COMMENT "Compiling ${ARG_MODEL} with nnopt"
    VERBATIM)
  add_library(${target} STATIC "${dir}/model.c")
  target_include_directories(${target} PUBLIC "${dir}")
endfunction()
