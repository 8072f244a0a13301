// (Gated) delta rule (DeltaNet, Schlag et al. 2021; Gated DeltaNet, Yang et al. 2024), PSM table §2:
//   h_t = α_t (I - β_t k_t k_tᵀ) h_{t-1} + β_t k_t v_tᵀ,   o_t = h_tᵀ q_t
// an affine recurrence whose E_t = α_t (I - β_t k_t k_tᵀ) is a gated generalized Householder matrix
// acting on the left of the [K, V] state. α_t = exp(log_a_t); log_a undefined means α = 1 (DeltaNet).
// Shapes: q, k [B, T, H, K]; v [B, T, H, V]; beta, log_a [B, T, H]; h [B, H, K, V] (float32 or wider).
//   _ref      token loop
//   _chunked  WY/UT form: per chunk one unit-lower-triangular solve (I + A) U = βV - (βγK) h, then
//             matmuls; gates as cumulative log decay, every exponent <= 0; the state recurrence over
//             chunks is delta_chunk_recurrence (chunk_recurrence.h: a CUDA kernel for float32 states);
//             bf16 inputs on the GPU take fused kernels for all of it (_chunked_wy_cuda)
//   _blelloch scan::tensor_blelloch_scan over (E, f) with E a [K, K] matrix
//   _step     one token, for decoding
#pragma once
#include <ATen/ATen.h>

namespace scanlab::ops {

struct DeltaRuleArgs {
  at::Tensor q, k, v, beta;  // [B, T, H, K], [B, T, H, K], [B, T, H, V], [B, T, H]
  at::Tensor log_a;          // [B, T, H] or undefined (no gate)
  at::Tensor h0;             // [B, H, K, V] or undefined (zeros)
  int64_t chunk_len = 64;
};

struct DeltaRuleOut {
  at::Tensor o;        // [B, T, H, V], dtype of q
  at::Tensor h_final;  // [B, H, K, V], state dtype
};

struct DeltaRuleStepArgs {
  at::Tensor q, k, v, beta, log_a;  // [B, H, K], [B, H, K], [B, H, V], [B, H], [B, H] or undefined
};

void check_delta_rule_args(const DeltaRuleArgs& a);
void check_delta_rule_step_args(const DeltaRuleStepArgs& a, const at::Tensor& h);
DeltaRuleOut delta_rule_ref(const DeltaRuleArgs& a);
DeltaRuleOut delta_rule_chunked(const DeltaRuleArgs& a);
// The same form with the recurrence always as the torch loop (benchmarks: the kernel side by side).
DeltaRuleOut delta_rule_chunked_torch(const DeltaRuleArgs& a);
// Whether delta_rule_chunked's state recurrence takes the CUDA kernel for these arguments (a CUDA
// build, CUDA inputs with a float32 state, K <= 128, K and V multiples of 4, chunk_len <= 64).
bool delta_rule_chunked_cuda_supports(const DeltaRuleArgs& a);
// The fused CUDA kernels for the whole chunked form (chunk_wy.cpp, cuda/delta_wy_*.cu: the UT
// transform and the outputs per (chunk, head) on tensor cores around the recurrence kernel, forward
// and hand-written backward): bfloat16 q, k, v on one CUDA device of compute capability 8.0 or later
// with the shared memory they need, K and V of 64 or 128; the chunk is always 64 tokens (chunk_len
// is not consulted: the function does not depend on it). delta_rule_chunked routes there when
// supports() accepts and set_fused_chunked_kernels (affine_scan.h) is on. poison_outputs fills
// outputs and scratch with NaN first (tests). Without a CUDA build supports() is false and the call
// throws scanlab::Error.
bool delta_rule_chunked_wy_cuda_supports(const DeltaRuleArgs& a);
DeltaRuleOut delta_rule_chunked_wy_cuda(const DeltaRuleArgs& a, bool poison_outputs = false);
// Process-wide: whether the fused path's two recurrence walks may take the TF32 tensor-core variant
// of the walk kernel (cuda/delta_chunk_recurrence.cu), which its launcher picks only where it is the
// faster walk (enough blocks to fill the GPU). On by default (measured: docs/performance.md section
// 1f); off keeps float32 FMA throughout. The tests run the fused path both ways.
void set_delta_walk_tf32(bool on);
bool delta_walk_tf32();
// The same autograd Function with its six stages as torch ops (any device and dtype; chunk_wy.cpp):
// the CPU tests check its hand-written backward, which the kernels implement, against autograd.
DeltaRuleOut delta_rule_chunked_wy_torch(const DeltaRuleArgs& a);
DeltaRuleOut delta_rule_blelloch(const DeltaRuleArgs& a);
// Returns o [B, H, V]; h becomes the state after the token. delta_rule_step routes to the fused CUDA
// kernel (cuda/delta_step.cu) where delta_rule_step_cuda_supports() accepts the arguments and no
// gradient is needed, else to the device-generic torch step.
at::Tensor delta_rule_step(const DeltaRuleStepArgs& a, at::Tensor& h);
at::Tensor delta_rule_step_torch(const DeltaRuleStepArgs& a, at::Tensor& h);
// float32 CUDA tensors on one device, a contiguous state, K <= 256, a CUDA build.
bool delta_rule_step_cuda_supports(const DeltaRuleStepArgs& a, const at::Tensor& h);
// Updates h in place; writes o into `out` ([B, H, V] contiguous float32).
void delta_rule_step_cuda(const DeltaRuleStepArgs& a, at::Tensor& h, at::Tensor& out);

}  // namespace scanlab::ops
