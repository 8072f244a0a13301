// Launcher API of the inter-chunk state pass (ops/chunk_state_pass.h): plain structs, no torch
// types, so the .cu file builds with nvcc alone.
#pragma once
#include <cuda_runtime_api.h>

namespace scanlab::ops::cuda {

// x <- init (zeros when null); for each chunk n in order (from the last when `reverse`):
//   states[n] = x;  x = decay[n] * x + u[n];   then final = x.
// Contiguous float32 arrays: u, states [BH, NC, K, V]; decay [BH, NC] (per_key = 0) or [BH, NC, K]
// (per_key = 1), already exponentiated; init, final [BH, K, V].
struct ChunkStatePassParams {
  long long batch_heads = 0;
  int chunks = 0, dk = 0, dv = 0;
  int per_key = 0, reverse = 0;
  const float* u = nullptr;
  const float* decay = nullptr;
  const float* init = nullptr;
  float* states = nullptr;
  float* final_state = nullptr;
};

cudaError_t launch_chunk_state_pass(const ChunkStatePassParams& p, cudaStream_t stream);

}  // namespace scanlab::ops::cuda
