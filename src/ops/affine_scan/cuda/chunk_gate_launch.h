// Launcher API of the fused chunked kernels for identity and scalar gates (cuda/chunk_gate.cu):
// plain structs, no torch types, so the .cu file builds with nvcc alone. Only
// ops/affine_scan/chunk_gate_fused.cpp includes it.
//
// Layouts (every array contiguous; bf16 arrays are passed as void* and hold __nv_bfloat16):
//   q, k, dq, dk     [B, T, H, K]  bf16          v, o, do, dv   [B, T, H, V]  bf16
//   g, dg            [B, H, NC * 64] float32: the cumulative log gate inside each chunk of 64 tokens
//                    (g_i = Σ_{l <= i} log a_l from the chunk's first token; the padding after the last
//                    token repeats its value), null for the identity gate (no dg either)
//   states, dstates  [B, H, NC, K, V] bf16: the state entering each chunk / the gradient of the state
//                    leaving it
//   h0, h_final, dh_final, dh0   [B, H, K, V] float32 (h0 and dh_final may be null: zeros)
// K and V are 64 or 128 (chunk_gate_supported); the chunk length is fixed at 64 tokens.
#pragma once
#include <cuda_runtime_api.h>

namespace scanlab::ops::cuda {

constexpr int kGateChunk = 64;

#ifdef __CUDACC__
#define SCANLAB_HOST_DEVICE __host__ __device__
#else
#define SCANLAB_HOST_DEVICE
#endif

inline bool chunk_gate_supported(int dk, int dv) { return (dk == 64 || dk == 128) && (dv == 64 || dv == 128); }

struct ChunkGateDims {
  int batch = 0, heads = 0, tokens = 0;  // B, H, T
  int dk = 0, dv = 0;                    // K, V
  SCANLAB_HOST_DEVICE int chunks() const { return (tokens + kGateChunk - 1) / kGateChunk; }
};

struct ChunkGateForwardParams {
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

struct ChunkGateBackwardParams {
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
  void* dv = nullptr;
  float* dg = nullptr;  // with g: d loss / d g_i (the caller turns it into d log a)
};

// Two kernels each: the pass over chunk states (one block per 64 x 64 tile of a head's state walks
// the chunks), then one block per (chunk, head) for the outputs / the input gradients.
cudaError_t launch_chunk_gate_forward(const ChunkGateForwardParams& p, cudaStream_t stream);
cudaError_t launch_chunk_gate_backward(const ChunkGateBackwardParams& p, cudaStream_t stream);

}  // namespace scanlab::ops::cuda
