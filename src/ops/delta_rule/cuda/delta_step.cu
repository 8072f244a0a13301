// Fused gated delta-rule decode step (layout: ops/cuda/step_tiles.cuh). Per value column c:
//   u_c = β (v_c - α Σ_i k_i h[i, c]),  h[i, c] = α h[i, c] + k_i u_c,  o_c = Σ_i q_i h[i, c].
// u_c needs the whole column before any entry is rewritten, so each thread holds its K / 8 entries in
// registers between the two passes: the state is still read once and written once.
#include "ops/cuda/step_tiles.cuh"
#include "ops/delta_rule/cuda/launch.h"

namespace scanlab::ops::cuda {
namespace {

constexpr int kRowsPerThread = kMaxDeltaKeyDim / kRowGroups;

__global__ void delta_rule_step_kernel(DeltaStepParams p) {
  extern __shared__ float smem[];
  float* sq = smem;
  float* sk = smem + p.dk;
  float* scratch = smem + 2 * p.dk;
  const long long bh = blockIdx.x;
  stage(sq, p.q + bh * p.dk, p.dk);
  stage(sk, p.k + bh * p.dk, p.dk);
  const float alpha = p.log_a ? expf(p.log_a[bh]) : 1.f;
  const float beta = p.beta[bh];
  __syncthreads();
  const int col = blockIdx.y * kLanes + threadIdx.x;
  float* s = p.state + bh * p.dk * static_cast<long long>(p.dv) + col;
  float held[kRowsPerThread];
  float kh = 0.f;
#pragma unroll
  for (int j = 0; j < kRowsPerThread; ++j) {
    const int i = threadIdx.y + j * kRowGroups;
    held[j] = 0.f;
    if (i < p.dk && col < p.dv) {
      held[j] = alpha * s[static_cast<long long>(i) * p.dv];
      kh = fmaf(sk[i], held[j], kh);
    }
  }
  const float u = beta * ((col < p.dv ? p.v[bh * p.dv + col] : 0.f) - sum_over_row_groups(kh, scratch));
  float acc = 0.f;
#pragma unroll
  for (int j = 0; j < kRowsPerThread; ++j) {
    const int i = threadIdx.y + j * kRowGroups;
    if (i < p.dk && col < p.dv) {
      const float h = fmaf(sk[i], u, held[j]);
      s[static_cast<long long>(i) * p.dv] = h;
      acc = fmaf(sq[i], h, acc);
    }
  }
  const float total = sum_over_row_groups(acc, scratch);
  if (threadIdx.y == 0 && col < p.dv) p.out[bh * p.dv + col] = total;
}

}  // namespace

cudaError_t launch_delta_rule_step(const DeltaStepParams& p, cudaStream_t stream) {
  if (p.batch_heads == 0 || p.dv == 0) return cudaSuccess;
  if (p.dk < 1 || p.dk > kMaxDeltaKeyDim) return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>(p.batch_heads), static_cast<unsigned>((p.dv + kLanes - 1) / kLanes));
  const size_t smem = sizeof(float) * (2 * static_cast<size_t>(p.dk) + kLanes * kRowGroups);
  delta_rule_step_kernel<<<grid, dim3(kLanes, kRowGroups), smem, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace scanlab::ops::cuda
