# Finds LibTorch. On Debian CPU machines it is libtorch-dev (1.13, found by find_package as is);
# on a GPU machine it is the PyTorch wheel, located through python3 unless CMAKE_PREFIX_PATH names it.
find_package(Torch QUIET)
if(NOT Torch_FOUND)
  find_program(SCANLAB_PYTHON NAMES python3 python)
  if(SCANLAB_PYTHON)
    execute_process(COMMAND ${SCANLAB_PYTHON} -c "import torch;print(torch.utils.cmake_prefix_path)"
                    OUTPUT_VARIABLE _torch_prefix OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET
                    RESULT_VARIABLE _torch_rc)
    if(_torch_rc EQUAL 0 AND _torch_prefix)
      message(STATUS "scanlab: using LibTorch from the PyTorch wheel at ${_torch_prefix}")
      list(APPEND CMAKE_PREFIX_PATH ${_torch_prefix})
    endif()
  endif()
  find_package(Torch REQUIRED)
endif()
message(STATUS "scanlab: LibTorch ${Torch_VERSION}")

# Torch's flags (e.g. -D_GLIBCXX_USE_CXX11_ABI) must reach every scanlab target.
string(REPLACE " " ";" SCANLAB_TORCH_CXX_FLAGS "${TORCH_CXX_FLAGS}")

set(_torch_has_cuda OFF)
if(TORCH_CUDA_LIBRARIES OR CUDA_FOUND OR TARGET torch_cuda OR TARGET CUDA::cudart)
  set(_torch_has_cuda ON)
endif()
if(SCANLAB_CUDA STREQUAL "AUTO")
  set(SCANLAB_WITH_CUDA ${_torch_has_cuda})
elseif(SCANLAB_CUDA)
  if(NOT _torch_has_cuda)
    message(FATAL_ERROR "SCANLAB_CUDA=ON but this LibTorch was built without CUDA; "
                        "point CMAKE_PREFIX_PATH at a CUDA build of LibTorch or use SCANLAB_CUDA=AUTO")
  endif()
  set(SCANLAB_WITH_CUDA ON)
else()
  set(SCANLAB_WITH_CUDA OFF)
endif()
if(SCANLAB_WITH_CUDA)
  enable_language(CUDA)
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES OR CMAKE_CUDA_ARCHITECTURES STREQUAL "52")
    set(CMAKE_CUDA_ARCHITECTURES 90)
  endif()
  set(CMAKE_CUDA_STANDARD 17)
endif()
message(STATUS "scanlab: CUDA kernels ${SCANLAB_WITH_CUDA}")
