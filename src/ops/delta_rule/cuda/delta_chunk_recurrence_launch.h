// Launcher API of the delta rule's inter-chunk recurrence (cuda/delta_chunk_recurrence.cu): plain
// structs, no torch types, so the .cu file builds with nvcc alone. Only
// ops/delta_rule/chunk_recurrence.cpp and ops/delta_rule/chunk_wy.cpp (the shared memory its
// supports() needs) include it.
//
// One walk over the chunks, in order (forward) or from the last (backward), per (bh, tile of columns of
// V):
//   s <- init;  for each chunk n of the walk:
//     states[n] = s
//     W_n = X_n + sign_p · P_n s                       [C, V] = [C, V] + [C, K]·[K, V]
//     s   = gamma[n] · s + sign_q · Q_nᵀ W_n + R_n      [K, V] = [K, V] + [K, C]·[C, V] + [K, V]
//   final = s
// Forward:  X, P = Y, Q = K̃, sign_p = -1, sign_q = +1, R null: states = H (entering), W = U.
// Backward: X = dU, P = K̃, Q = Y, sign_p = +1, sign_q = -1, R = dH, init = dh_final, from the last
//           chunk: states[n] = dL/dh_{n+1}, W = dU_total, final = dh0.
// Every array is float32 with a unit stride in its last dim. X [BH, NC, C, V] and P, Q [BH, NC, C, K]
// carry their strides (in elements, multiples of 4, with 16-byte aligned bases: the tiles move in
// 16-byte cp.async vectors), so the views the chunked form cuts out of one solve need no copies;
// gamma [BH, NC], R and states [BH, NC, K, V], W [BH, NC, C, V] and init, final [BH, K, V] are
// contiguous. X, R and init may be null (zeros).
#pragma once
#include <cuda_runtime_api.h>

namespace scanlab::ops::cuda {

constexpr int kDeltaRecMaxKey = 128;   // K <= 128 (state tile [128, 16 or 32] floats on chip)
constexpr int kDeltaRecMaxChunk = 64;  // C <= 64
constexpr int kDeltaRecTileV = 16;     // columns of V per block of the float32 walk (TF32: 16 to 64)

// K and V multiples of 4 (16-byte vectors), K <= 128, 1 <= C <= 64.
inline bool delta_chunk_recurrence_dims_supported(long long dk, long long dv, long long chunk) {
  return dk >= 4 && dk <= kDeltaRecMaxKey && dk % 4 == 0 && dv >= 4 && dv % 4 == 0 && chunk >= 1 &&
         chunk <= kDeltaRecMaxChunk;
}

// A strided [BH, NC, rows, cols] float32 operand (unit stride along cols).
struct DeltaRecOperand {
  const float* ptr = nullptr;
  long long bh_stride = 0, chunk_stride = 0, row_stride = 0;
};

struct DeltaChunkRecurrenceParams {
  long long batch_heads = 0;
  int chunks = 0, chunk_len = 0, dk = 0, dv = 0;
  int reverse = 0;
  // 1: the products on tensor cores in TF32 where that is the faster walk (the fused bf16 path);
  // 0: float32 FMA.
  int tf32 = 0;
  int tile_v = 0;  // TF32 only: columns of V per block, 16, 32 or 64 (forced); 0 lets the launcher choose
  float sign_p = -1.f, sign_q = 1.f;
  DeltaRecOperand x, p, q;
  const float* gamma = nullptr;
  const float* r = nullptr;
  const float* init = nullptr;
  float* states = nullptr;
  float* w = nullptr;
  float* final_state = nullptr;
};

// Dynamic shared memory the walk needs for this key dim (K <= 64 and K <= 128 have one kernel each).
size_t delta_chunk_recurrence_smem_bytes(int dk);

// The columns of V per block the TF32 walk takes for p on a device with this many SMs and this much
// opt-in shared memory per block (p.tile_v when it names a width), or 0 where the float32 walk is
// the faster one (too few blocks to fill the GPU).
int delta_chunk_recurrence_tc_tile_v(const DeltaChunkRecurrenceParams& p, int sms, size_t smem_per_block);

// Returns the launch error (cudaSuccess when the kernel was queued).
cudaError_t launch_delta_chunk_recurrence(const DeltaChunkRecurrenceParams& p, cudaStream_t stream);

}  // namespace scanlab::ops::cuda
