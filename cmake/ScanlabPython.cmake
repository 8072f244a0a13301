# Decides whether the Python extension (python/: `import scanlab`) is built, and with which python3.
# It needs an interpreter whose `import torch` is the same LibTorch release this build links (the
# extension and torch's own Python module share one process), Python's headers and pybind11 (from
# the PyTorch wheel's include/ or Debian's pybind11-dev).
#   SCANLAB_PYTHON_EXT        AUTO (build when all of that is found; say why not otherwise), ON, OFF
#   SCANLAB_PYTHON_EXECUTABLE the interpreter; empty: the first python3 on PATH that imports torch,
#                             then Debian's /usr/bin/python3
set(SCANLAB_PYTHON_EXT "AUTO" CACHE STRING "Build the Python extension in python/: AUTO, ON, OFF")
set(SCANLAB_PYTHON_EXECUTABLE "" CACHE FILEPATH "python3 whose torch matches this LibTorch (empty: search)")
set(SCANLAB_WITH_PYTHON OFF)

function(_scanlab_python_fail why)
  if(SCANLAB_PYTHON_EXT STREQUAL "ON")
    message(FATAL_ERROR "SCANLAB_PYTHON_EXT=ON but ${why}")
  endif()
  message(STATUS "scanlab: Python extension OFF: ${why} (install python3-torch python3-dev pybind11-dev, "
                 "or set SCANLAB_PYTHON_EXECUTABLE)")
endfunction()

# Prints, one per line: torch version, torch's package folder, the three pybind11 ABI strings torch
# was built with, Python's include folder and the extension-module suffix.
set(_scanlab_probe [=[
import os, sys, sysconfig, torch
c = torch._C
print(torch.__version__.split('+')[0])
print(os.path.dirname(torch.__file__))
print(getattr(c, '_PYBIND11_COMPILER_TYPE', ''))
print(getattr(c, '_PYBIND11_STDLIB', ''))
print(getattr(c, '_PYBIND11_BUILD_ABI', ''))
print(sysconfig.get_paths()['include'])
print(sysconfig.get_config_var('EXT_SUFFIX'))
]=])

if(NOT SCANLAB_PYTHON_EXT STREQUAL "OFF")
  set(_candidates ${SCANLAB_PYTHON_EXECUTABLE})
  if(NOT SCANLAB_PYTHON_EXECUTABLE)
    find_program(_scanlab_path_python3 NAMES python3 NO_CACHE)
    set(_candidates ${_scanlab_path_python3} /usr/bin/python3)
  endif()
  set(_probe_out "")
  foreach(_py IN LISTS _candidates)
    if(EXISTS "${_py}")
      execute_process(COMMAND "${_py}" -c "${_scanlab_probe}" OUTPUT_VARIABLE _out RESULT_VARIABLE _rc
                      ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
      if(_rc EQUAL 0)
        set(_probe_out "${_out}")
        set(_python "${_py}")
        break()
      endif()
    endif()
  endforeach()
  if(NOT _probe_out)
    _scanlab_python_fail("no python3 that imports torch was found (tried: ${_candidates})")
  else()
    string(REPLACE "\n" ";" _probe "${_probe_out}")
    list(GET _probe 0 _py_torch_version)
    list(GET _probe 1 _py_torch_dir)
    list(GET _probe 2 _pybind_compiler)
    list(GET _probe 3 _pybind_stdlib)
    list(GET _probe 4 _pybind_abi)
    list(GET _probe 5 _py_include)
    list(GET _probe 6 _py_suffix)
    string(REGEX MATCH "^[0-9]+\\.[0-9]+" _py_mm "${_py_torch_version}")
    string(REGEX MATCH "^[0-9]+\\.[0-9]+" _lib_mm "${Torch_VERSION}")
    find_library(SCANLAB_TORCH_PYTHON_LIBRARY torch_python PATHS "${_py_torch_dir}/lib" NO_DEFAULT_PATH)
    set(_pybind_include "")
    if(EXISTS "${_py_torch_dir}/include/pybind11/pybind11.h")
      set(_pybind_include "${_py_torch_dir}/include")  # the PyTorch wheel ships its pybind11
    else()
      find_path(SCANLAB_PYBIND11_INCLUDE_DIR pybind11/pybind11.h)
      if(SCANLAB_PYBIND11_INCLUDE_DIR)
        set(_pybind_include "${SCANLAB_PYBIND11_INCLUDE_DIR}")
      endif()
    endif()
    if(NOT _py_mm STREQUAL _lib_mm)
      _scanlab_python_fail("${_python} imports torch ${_py_torch_version}, this build links LibTorch ${Torch_VERSION}")
    elseif(NOT EXISTS "${_py_include}/Python.h")
      _scanlab_python_fail("Python.h is not in ${_py_include}")
    elseif(NOT SCANLAB_TORCH_PYTHON_LIBRARY)
      _scanlab_python_fail("libtorch_python is not in ${_py_torch_dir}/lib")
    elseif(NOT _pybind_include)
      _scanlab_python_fail("pybind11 headers not found")
    else()
      set(SCANLAB_WITH_PYTHON ON)
      set(SCANLAB_PYTHON "${_python}")
      set(SCANLAB_PYTHON_INCLUDE_DIRS "${_py_include}" "${_pybind_include}")
      set(SCANLAB_PYTHON_EXT_SUFFIX "${_py_suffix}")
      set(SCANLAB_PYBIND11_DEFINITIONS PYBIND11_COMPILER_TYPE="${_pybind_compiler}"
          PYBIND11_STDLIB="${_pybind_stdlib}" PYBIND11_BUILD_ABI="${_pybind_abi}")
      message(STATUS "scanlab: Python extension ON (${_python}, torch ${_py_torch_version})")
    endif()
  endif()
endif()
