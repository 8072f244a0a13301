// Launcher API of the fused chunked (gated) delta rule's per-chunk kernels (cuda/delta_wy_fwd.cu,
// cuda/delta_wy_bwd.cu): plain structs, no torch types, so the .cu files build with nvcc alone. Only
// ops/delta_rule/chunk_wy_cuda.cpp and those .cu files include it. The inter-chunk state recurrence
// between them is cuda/delta_chunk_recurrence.cu, launched by the same host file.
//
// Layouts (every array contiguous; bf16 arrays are passed as void* and hold __nv_bfloat16; C = 64):
//   q, k, dq, dk        [B, T, H, K] bf16          v, o, do, dv   [B, T, H, V] bf16
//   beta, dbeta         [B·H, NC, C] float32: β per token, 0 in the padding after the last token
//   g, dg               [B·H, NC, C] float32: the cumulative log gate inside each chunk (the padding
//                       repeats the last token's value); null for the delta rule without a gate
//   x, u, dx, du        [B·H, NC, C, V] float32        y, k_state, dk_part  [B·H, NC, C, K] float32
//   gamma               [B·H, NC] float32 (e^{G}, G = g_{C-1}; 1 without a gate)
//   states, dstates, dstate_in  [B·H, NC, K, V] float32
//   dg_part             [B·H, NC, C] float32
// K and V are 64 or 128 (chunk_gate_supported); the chunk length is fixed at 64 tokens.
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>

#include "ops/affine_scan/cuda/chunk_gate_launch.h"

namespace scanlab::ops::cuda {

struct DeltaWyForwardParams {
  ChunkGateDims d;
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  const float* beta = nullptr;
  const float* g = nullptr;
  // Written by launch_delta_wy_prepare: (I + A) [X | Y] = [βV | βe^g K], K̃ = e^{G-g} K, γ = e^G.
  float* x = nullptr;
  float* y = nullptr;
  float* k_state = nullptr;
  float* gamma = nullptr;
  // Read by launch_delta_wy_output (the recurrence's results), which writes o.
  const float* states = nullptr;
  const float* u = nullptr;
  void* o = nullptr;
};

struct DeltaWyBackwardParams {
  ChunkGateDims d;
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  const float* beta = nullptr;
  const float* g = nullptr;
  const float* states = nullptr;  // from the forward: h_n entering chunk n
  const float* u = nullptr;       // from the forward: U_n
  const void* d_o = nullptr;
  // Written by launch_delta_wy_output_backward.
  void* dq = nullptr;          // final
  float* dk_part = nullptr;    // the output's part of dk, completed by launch_delta_wy_prepare_backward
  float* dg_part = nullptr;    // the output's part of dg (with g)
  float* dstate_in = nullptr;  // dL/dh_n through the output (the recurrence walk's R)
  float* du = nullptr;         // dL/dU_n through the output (the recurrence walk's X)
  // Read by launch_delta_wy_prepare_backward: the backward walk's results.
  const float* dx = nullptr;       // dL/dU_n in total (= dL/dX_n)
  const float* dstates = nullptr;  // D_n = dL/dh_{n+1}
  // Written by launch_delta_wy_prepare_backward.
  void* dk = nullptr;
  void* dv = nullptr;
  float* dbeta = nullptr;
  float* dg = nullptr;  // with g
};

// The largest dynamic shared memory any of the four kernels needs at these dims (0 when unsupported).
size_t delta_wy_smem_bytes(int dk, int dv);

// One block per (chunk, head) each; the host runs, forward: prepare, the recurrence walk, output;
// backward: output_backward, the reverse recurrence walk, prepare_backward.
cudaError_t launch_delta_wy_prepare(const DeltaWyForwardParams& p, cudaStream_t stream);
cudaError_t launch_delta_wy_output(const DeltaWyForwardParams& p, cudaStream_t stream);
cudaError_t launch_delta_wy_output_backward(const DeltaWyBackwardParams& p, cudaStream_t stream);
cudaError_t launch_delta_wy_prepare_backward(const DeltaWyBackwardParams& p, cudaStream_t stream);

}  // namespace scanlab::ops::cuda
