// The delta rule's inter-chunk state recurrence, the one sequential piece of its chunked WY/UT form
// (delta_rule_chunked). With X_n, Y_n from chunk n's triangular solve, K̃_n its keys decayed to the
// chunk's end and γ_n its total decay, the state h_n entering chunk n and the corrections U_n are
//   U_n = X_n - Y_n h_n,   h_{n+1} = γ_n h_n + K̃_nᵀ U_n,   h_0 = h0.
// Shapes: x [BH, NC, C, V]; y, k_state (K̃) [BH, NC, C, K]; gamma [BH, NC]; h0 [BH, K, V]; out:
// entering (h_0 .. h_{NC-1}) [BH, NC, K, V], u [BH, NC, C, V], final (h_NC) [BH, K, V]. All of one
// floating dtype and device (the state dtype); differentiable in every input.
#pragma once
#include <ATen/ATen.h>

namespace scanlab::ops {

struct DeltaChunkInputs {
  at::Tensor x, y, k_state, gamma, h0;
};

struct DeltaChunkStates {
  at::Tensor entering, u, final;
};

// The routed entry: the CUDA kernel (cuda/delta_chunk_recurrence.cu, forward and hand-written
// backward) where delta_chunk_recurrence_cuda_supports() accepts, else the loop.
DeltaChunkStates delta_chunk_recurrence(const DeltaChunkInputs& in);
// Two batched products per chunk in torch ops, autograd through them: any device and dtype.
DeltaChunkStates delta_chunk_recurrence_loop(const DeltaChunkInputs& in);
// The autograd Function with the hand-written backward: both directions are walks over the chunks
// (the backward from the last one), run by the CUDA kernel where delta_chunk_recurrence_cuda_supports()
// accepts and by torch ops elsewhere (which is how the CPU tests check its math against autograd of
// the loop). poison_outputs fills outputs and kernel scratch with NaN first (tests).
DeltaChunkStates delta_chunk_recurrence_walk(const DeltaChunkInputs& in, bool poison_outputs = false);
// float32 tensors of the shapes above on one CUDA device of compute capability 8.0 or later (with
// enough shared memory for the K tile), K <= 128, K and V multiples of 4, C <= 64, a CUDA build.
bool delta_chunk_recurrence_cuda_supports(const DeltaChunkInputs& in);

}  // namespace scanlab::ops
