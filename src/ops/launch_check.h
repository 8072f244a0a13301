// The one way a host file turns a CUDA launcher's error code into a scanlab::Error: "<op>: <what>
// failed: <CUDA's message>". CUDA builds only (the launchers return cudaError_t).
#pragma once
#include <cuda_runtime_api.h>

#include "core/check.h"

namespace scanlab::ops {

inline void check_launch(cudaError_t err, const char* op, const char* what = "kernel launch") {
  SCANLAB_CHECK(err == cudaSuccess, op, ": ", what, " failed: ", cudaGetErrorString(err));
}

}  // namespace scanlab::ops
