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
// One walk of the CUDA kernel into preallocated outputs (cuda/delta_chunk_recurrence_launch.h has the
// math): s <- init; per chunk n of the walk (from the last when reverse) states[n] = s,
// w_n = x_n + sign_p p_n s, s <- γ_n s + sign_q q_nᵀ w_n + r_n; final = s. x, r and init may be
// undefined or empty (zeros). float32 CUDA tensors, unit stride in the last dim, the other strides
// multiples of 4 elements and 16-byte aligned starts; states, r [BH, NC, K, V], w [BH, NC, C, V] and
// init, final [BH, K, V] contiguous. For delta_chunk_recurrence_walk and the fused chunked form
// (chunk_wy.cpp); throws scanlab::Error without a CUDA build. tf32: the two products per chunk on
// tensor cores with TF32 operands (the fused bf16 path, whose operands carry bf16's precision);
// otherwise float32 FMA.
struct DeltaWalkOperands {
  at::Tensor x, p, q, gamma, init, r;
  double sign_p, sign_q;
  bool reverse;
  bool tf32 = false;
  int tf32_tile_v = 0;  // columns of V per block of the TF32 walk (16, 32, 64); 0: the launcher's choice
};
void delta_chunk_recurrence_launch(const DeltaWalkOperands& a, const at::Tensor& states, const at::Tensor& w,
                                   const at::Tensor& final_state);
// float32 tensors of the shapes above on one CUDA device of compute capability 8.0 or later (with
// enough shared memory for the K tile), K <= 128, K and V multiples of 4, C <= 64, a CUDA build.
bool delta_chunk_recurrence_cuda_supports(const DeltaChunkInputs& in);

}  // namespace scanlab::ops
