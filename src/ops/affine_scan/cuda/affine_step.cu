// Fused recurrent decode step for the affine family (scalar, diagonal and identity gates).
// Grid: (B*H, ceil(V / kThreads)); each thread owns one value column v of one head's [K, V] float32
// state and walks down its K rows: h[i, v] = a_i h[i, v] + k_i v_v, o_v += q_i h[i, v]. Neighbouring
// threads touch neighbouring columns, so every state row is read and written once, coalesced.
// q, k and the gate (exp(log_a)) are staged in shared memory once per block.
#include "ops/affine_scan/cuda/launch.h"

namespace scanlab::ops::cuda {
namespace {

constexpr int kThreads = 128;

__global__ void affine_scan_step_kernel(AffineStepParams p) {
  extern __shared__ float smem[];
  float* sq = smem;
  float* sk = smem + p.dk;
  float* sa = smem + 2 * p.dk;
  const long long bh = blockIdx.x;
  for (int i = threadIdx.x; i < p.dk; i += blockDim.x) {
    sq[i] = p.q[bh * p.dk + i];
    sk[i] = p.k[bh * p.dk + i];
    float la = 0.f;
    if (p.gate == kGateScalar) la = p.log_a[bh];
    if (p.gate == kGateDiagonal) la = p.log_a[bh * p.dk + i];
    sa[i] = expf(la);
  }
  __syncthreads();
  const int col = blockIdx.y * blockDim.x + threadIdx.x;
  if (col >= p.dv) return;
  const float vv = p.v[bh * p.dv + col];
  float* s = p.state + bh * p.dk * static_cast<long long>(p.dv) + col;
  float acc = 0.f;
  for (int i = 0; i < p.dk; ++i) {
    const long long at = static_cast<long long>(i) * p.dv;
    const float h = fmaf(sa[i], s[at], sk[i] * vv);
    s[at] = h;
    acc = fmaf(sq[i], h, acc);
  }
  p.out[bh * p.dv + col] = acc;
}

}  // namespace

cudaError_t launch_affine_scan_step(const AffineStepParams& p, cudaStream_t stream) {
  if (p.batch_heads == 0 || p.dv == 0) return cudaSuccess;
  if (p.dk < 1 || p.dk > kMaxStepKeyDim) return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>(p.batch_heads), static_cast<unsigned>((p.dv + kThreads - 1) / kThreads));
  const size_t smem = 3 * sizeof(float) * static_cast<size_t>(p.dk);
  affine_scan_step_kernel<<<grid, kThreads, smem, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace scanlab::ops::cuda
