# Compile-only check of every plain .cu kernel with nvcc, even on machines without a GPU or a CUDA
# LibTorch (CI). The kernels include no torch header, so nvcc needs nothing but the CUDA toolkit.
find_program(SCANLAB_NVCC nvcc PATHS /usr/local/cuda/bin ENV CUDA_HOME PATH_SUFFIXES bin)

function(scanlab_nvcc_check_sources)
  if(NOT SCANLAB_NVCC)
    message(STATUS "scanlab: nvcc not found, CUDA compile-only check skipped")
    return()
  endif()
  set(_stamps)
  # nvcc writes the objects here but does not create the folder.
  file(MAKE_DIRECTORY ${PROJECT_BINARY_DIR}/nvcc_check)
  foreach(_cu ${ARGN})
    get_filename_component(_abs ${_cu} ABSOLUTE)
    file(RELATIVE_PATH _rel ${PROJECT_SOURCE_DIR} ${_abs})
    string(REPLACE "/" "_" _id ${_rel})
    set(_obj ${PROJECT_BINARY_DIR}/nvcc_check/${_id}.o)
    add_custom_command(OUTPUT ${_obj}
      COMMAND ${SCANLAB_NVCC} -std=c++17 -arch=sm_90 -I${PROJECT_SOURCE_DIR}/src -c ${_abs} -o ${_obj}
      DEPENDS ${_abs}
      COMMENT "nvcc compile-only check: ${_rel}" VERBATIM)
    list(APPEND _stamps ${_obj})
  endforeach()
  add_custom_target(nvcc_check ALL DEPENDS ${_stamps})
  message(STATUS "scanlab: nvcc compile-only check enabled for ${ARGC} kernel file(s)")
endfunction()
