// The diagonal-gate affine scan with one value column (V = 1): Mamba/S6 as `selective_scan_args`
// lays it out, one head per channel with K = d_state. Per (b, h) lane group it is K independent
// scalar recurrences read out by one dot product per token:
//   h_t[k] = exp(log_a_t[k]) h_{t-1}[k] + k_t[k] v_t,      o_t = Σ_k q_t[k] h_t[k]
// The chunked form would build [s, s, K] decays per head for O(s·K) work per token, and the token
// loop launches T steps of small ops forward and twice that backward. This op is one fused pass
// each way (C++ loops on the CPU, cuda/diagonal_scan.cu on the GPU) with a hand-written backward
// that recomputes the states of each kCheckpointStride-token segment from a stored checkpoint, so it
// keeps T/kCheckpointStride states per lane instead of T.
#pragma once
#include "ops/affine_scan/affine_scan.h"

namespace scanlab::ops {

constexpr int64_t kDiagonalScanCheckpointStride = 32;

// Whether affine_scan_diagonal_single_value takes these arguments: a diagonal gate, V == 1, and on CUDA a
// build with SCANLAB_WITH_CUDA and K <= cuda::kMaxDiagonalScanKeyDim.
bool affine_scan_diagonal_single_value_supports(const AffineScanArgs& a);

// Same result as affine_scan_ref (o [B, T, H, 1] in q's dtype, h_final [B, H, K, 1] in the state
// dtype), differentiable in q, k, v, log_a and h0. Throws scanlab::Error unless supports().
AffineScanOut affine_scan_diagonal_single_value(const AffineScanArgs& a);

}  // namespace scanlab::ops
