// Inter-chunk state passing, the one sequential piece of the chunked affine and mLSTM forms. Given
// each chunk's own contribution u_n (the state chunk n leaves from a zero start) and its total log
// decay λ_n (one per head, or one per key), the states entering the chunks are
//   x_0 = h0,   x_{n+1} = exp(λ_n) ⊙ x_n + u_n        (⊙ broadcasts a per-key decay over V)
// Everything else in the chunked forms is a batched matrix product over all chunks at once; this
// recurrence is one pass over the chunk states: C++ loops on the CPU, one CUDA kernel for float32
// on the GPU (cuda/chunk_state_pass.cu), torch ops elsewhere. Its backward is the same recurrence
// run from the last chunk, with the incoming state gradients as contributions.
#pragma once
#include <ATen/ATen.h>

namespace scanlab::ops {

struct ChunkStates {
  at::Tensor entering;  // [B, H, NC, K, V]: x_0 .. x_{NC-1}, the state before each chunk
  at::Tensor final;     // [B, H, K, V]: x_NC
};

// u [B, H, NC, K, V]; log_decay [B, H, NC] (per head) or [B, H, NC, K] (per key), <= 0 in use;
// h0 [B, H, K, V] or undefined (zeros). All of one floating dtype and device (float32 or float64:
// the state dtype). Differentiable in u, log_decay and h0.
ChunkStates chunk_state_pass(const at::Tensor& u, const at::Tensor& log_decay, const at::Tensor& h0);

}  // namespace scanlab::ops
