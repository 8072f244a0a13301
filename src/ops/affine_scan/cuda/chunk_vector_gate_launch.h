// Launcher API of the fused chunked kernels for the vector (diagonal, per-key) gate, GLA
// (cuda/chunk_vector_gate.cu): plain structs, no torch types, so the .cu file builds with nvcc alone.
// Only ops/affine_scan/chunk_vector_gate_cuda.cpp includes it.
//
// Layouts (every array contiguous; bf16 arrays are passed as void* and hold __nv_bfloat16):
//   q, k, dq, dk     [B, T, H, K]  bf16          v, o, do   [B, T, H, V]  bf16
//   g, dg            [B, H, NC * 64, K] float32: the cumulative log gate inside each chunk of 64 tokens,
//                    per key (g_i = Σ_{l <= i} log a_l from the chunk's first token; the padding after
//                    the last token repeats its value)
//   states, dstates  [B, H, NC, K, V] bf16: the state entering each chunk / the gradient of the state
//                    leaving it
//   h0, h_final, dh_final, dh0   [B, H, K, V] float32 (h0 and dh_final may be null: zeros)
//   dv_part          [K / 64, B, T, H, V] float32: dv of each 64-key tile (the caller sums over tiles)
// K and V are 64 or 128 (chunk_gate_supported); the chunk length is fixed at 64 tokens.
#pragma once
#include <cuda_runtime_api.h>

#include "ops/affine_scan/cuda/chunk_gate_launch.h"

namespace scanlab::ops::cuda {

struct VectorGateForwardParams {
  ChunkGateDims d;
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  const float* g = nullptr;
  const float* h0 = nullptr;
  void* states = nullptr;  // written
  float* h_final = nullptr;
  void* o = nullptr;
};

struct VectorGateBackwardParams {
  ChunkGateDims d;
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  const float* g = nullptr;
  const void* states = nullptr;  // from the forward
  const void* d_o = nullptr;
  const float* dh_final = nullptr;
  void* dstates = nullptr;  // scratch, written by the first kernel and read by the second
  float* dh0 = nullptr;
  void* dq = nullptr;
  void* dk = nullptr;
  float* dv_part = nullptr;
  float* dg = nullptr;  // d loss / d g_i per key (the caller turns it into d log a)
};

// Forward: the pass over chunk states (one block per 64 x 64 tile of a head's state walks the
// chunks), then one block per (chunk, head) for the outputs. Backward: the reverse pass over state
// gradients, then one block per (chunk, head, 64-key tile) for the input gradients.
cudaError_t launch_chunk_vector_gate_forward(const VectorGateForwardParams& p, cudaStream_t stream);
cudaError_t launch_chunk_vector_gate_backward(const VectorGateBackwardParams& p, cudaStream_t stream);

}  // namespace scanlab::ops::cuda
