// Fused recurrent decode steps of the affine family, one launch per layer and token, the float32
// state read and written once, in place (layout: ops/cuda/step_tiles.cuh).
//   affine: h[i, c] = a_i h[i, c] + k_i v_c,                      o_c = sum_i q_i h[i, c]
//   mLSTM:  m' = max(log f + m, log i),  a = exp(log f + m - m'),  b = exp(log i - m')
//           C[i, c] = a C[i, c] + b k_i v_c,  n_i = a n_i + b k_i,  o_c = (qᵀC)_c / max(|qᵀn|, exp(-m'))
// The mLSTM normalizer n and stabilizer m are per head, so one block owns a whole head (and walks
// its column tiles): no other block reads n or m while it is rewritten.
#include "ops/affine_scan/cuda/launch.h"
#include "ops/cuda/step_tiles.cuh"

namespace scanlab::ops::cuda {
namespace {

// kVec lanes' worth of columns per thread: 1, or 4 (float4 loads and stores; a warp then moves
// 512 contiguous bytes per row, which large batches need to approach the copy bandwidth).
template <int kVec>
__global__ void affine_scan_step_kernel(AffineStepParams p) {
  extern __shared__ float smem[];
  float* sq = smem;
  float* sk = smem + p.dk;
  float* sa = smem + 2 * p.dk;
  float* scratch = smem + 3 * p.dk;
  const long long bh = blockIdx.x;
  stage(sq, p.q + bh * p.dk, p.dk);
  stage(sk, p.k + bh * p.dk, p.dk);
  for (int i = threadIdx.y * kLanes + threadIdx.x; i < p.dk; i += kLanes * kRowGroups) {
    float la = 0.f;
    if (p.gate == kGateScalar) la = p.log_a[bh];
    if (p.gate == kGateDiagonal) la = p.log_a[bh * p.dk + i];
    sa[i] = expf(la);
  }
  __syncthreads();
  const int col = (blockIdx.y * kLanes + threadIdx.x) * kVec;  // first of this thread's kVec columns
  float acc[kVec] = {};
  if (col < p.dv) {  // with kVec = 4 the launcher guarantees dv % 4 == 0
    float vv[kVec];
#pragma unroll
    for (int j = 0; j < kVec; ++j) vv[j] = p.v[bh * p.dv + col + j];
    float* s = p.state + bh * p.dk * static_cast<long long>(p.dv) + col;
#pragma unroll 4
    for (int i = threadIdx.y; i < p.dk; i += kRowGroups) {
      float* row = s + static_cast<long long>(i) * p.dv;
      float h[kVec];
      if constexpr (kVec == 4) {
        const float4 old = *reinterpret_cast<const float4*>(row);
        h[0] = old.x, h[1] = old.y, h[2] = old.z, h[3] = old.w;
      } else {
        h[0] = row[0];
      }
#pragma unroll
      for (int j = 0; j < kVec; ++j) {
        h[j] = fmaf(sa[i], h[j], sk[i] * vv[j]);
        acc[j] = fmaf(sq[i], h[j], acc[j]);
      }
      if constexpr (kVec == 4) {
        *reinterpret_cast<float4*>(row) = make_float4(h[0], h[1], h[2], h[3]);
      } else {
        row[0] = h[0];
      }
    }
  }
#pragma unroll
  for (int j = 0; j < kVec; ++j) {
    const float total = sum_over_row_groups(acc[j], scratch);
    if (threadIdx.y == 0 && col < p.dv) p.out[bh * p.dv + col + j] = total;
  }
}

__global__ void mlstm_step_kernel(MlstmStepParams p) {
  extern __shared__ float smem[];
  float* sq = smem;
  float* sk = smem + p.dk;
  float* scratch = smem + 2 * p.dk;
  const long long bh = blockIdx.x;
  stage(sq, p.q + bh * p.dk, p.dk);
  stage(sk, p.k + bh * p.dk, p.dk);
  const float m_old = p.m[bh], log_f = p.log_f[bh], log_i = p.log_i[bh];
  const float m_new = fmaxf(log_f + m_old, log_i);
  const float a = expf(log_f + m_old - m_new), b = expf(log_i - m_new);
  __syncthreads();  // every thread has read m before thread 0 rewrites it below
  // Normalizer: n <- a n + b k, and its readout qᵀn, summed over the block.
  float qn = 0.f;
  float* n = p.n + bh * p.dk;
  for (int i = threadIdx.y * kLanes + threadIdx.x; i < p.dk; i += kLanes * kRowGroups) {
    const float ni = fmaf(a, n[i], b * sk[i]);
    n[i] = ni;
    qn = fmaf(sq[i], ni, qn);
  }
  for (int offset = kLanes / 2; offset > 0; offset /= 2) qn += __shfl_down_sync(0xffffffffu, qn, offset);
  if (threadIdx.x == 0) scratch[threadIdx.y] = qn;
  __syncthreads();
  float qn_total = 0.f;
#pragma unroll
  for (int g = 0; g < kRowGroups; ++g) qn_total += scratch[g];
  __syncthreads();
  if (threadIdx.x == 0 && threadIdx.y == 0) p.m[bh] = m_new;
  const float den = fmaxf(fabsf(qn_total), expf(-m_new));
  for (int tile = 0; tile * kLanes < p.dv; ++tile) {
    const int col = tile * kLanes + threadIdx.x;
    float acc = 0.f;
    if (col < p.dv) {
      const float bv = b * p.v[bh * p.dv + col];
      float* s = p.C + bh * p.dk * static_cast<long long>(p.dv) + col;
#pragma unroll 4
      for (int i = threadIdx.y; i < p.dk; i += kRowGroups) {
        const long long at = static_cast<long long>(i) * p.dv;
        const float h = fmaf(a, s[at], sk[i] * bv);
        s[at] = h;
        acc = fmaf(sq[i], h, acc);
      }
    }
    const float total = sum_over_row_groups(acc, scratch);
    if (threadIdx.y == 0 && col < p.dv) p.out[bh * p.dv + col] = total / den;
  }
}

const dim3 kBlock(kLanes, kRowGroups);

}  // namespace

cudaError_t launch_affine_scan_step(const AffineStepParams& p, cudaStream_t stream) {
  if (p.batch_heads == 0 || p.dv == 0) return cudaSuccess;
  if (p.dk < 1 || p.dk > kMaxStepKeyDim) return cudaErrorInvalidValue;
  const size_t smem = sizeof(float) * (3 * static_cast<size_t>(p.dk) + kLanes * kRowGroups);
  // float4 columns when they keep enough blocks to fill the GPU (~a few per SM); small batches
  // keep one column per lane, which gives 4x the blocks and so a shorter step.
  const bool aligned = p.dv % 4 == 0 && reinterpret_cast<unsigned long long>(p.state) % 16 == 0;
  const long long vec_blocks = p.batch_heads * ((p.dv + 4 * kLanes - 1) / (4 * kLanes));
  if (aligned && vec_blocks >= 1024) {
    const dim3 grid(static_cast<unsigned>(p.batch_heads), static_cast<unsigned>((p.dv + 4 * kLanes - 1) / (4 * kLanes)));
    affine_scan_step_kernel<4><<<grid, kBlock, smem, stream>>>(p);
  } else {
    const dim3 grid(static_cast<unsigned>(p.batch_heads), static_cast<unsigned>((p.dv + kLanes - 1) / kLanes));
    affine_scan_step_kernel<1><<<grid, kBlock, smem, stream>>>(p);
  }
  return cudaGetLastError();
}

cudaError_t launch_mlstm_step(const MlstmStepParams& p, cudaStream_t stream) {
  if (p.batch_heads == 0) return cudaSuccess;
  if (p.dk < 1 || p.dk > kMaxStepKeyDim || p.dv < 1) return cudaErrorInvalidValue;
  const size_t smem = sizeof(float) * (2 * static_cast<size_t>(p.dk) + kLanes * kRowGroups);
  mlstm_step_kernel<<<static_cast<unsigned>(p.batch_heads), kBlock, smem, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace scanlab::ops::cuda
