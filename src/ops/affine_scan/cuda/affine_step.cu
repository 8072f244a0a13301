// Fused recurrent decode steps of the affine family, the float32 state read and written once, in
// place (layout: ops/cuda/step_tiles.cuh).
//   affine: h[i, c] = a_i h[i, c] + k_i v_c,                      o_c = sum_i q_i h[i, c]
//   mLSTM:  m' = max(log f + m, log i),  a = exp(log f + m - m'),  b = exp(log i - m')
//           C[i, c] = a C[i, c] + b k_i v_c,  n_i = a n_i + b k_i,  o_c = (qᵀC)_c / max(|qᵀn|, exp(-m'))
// The mLSTM matrix update is the affine one with gate a and keys b·k, so both run the same tiled
// kernel (grid: heads x column tiles). Its per-head normalizer n and stabilizer m are read by every
// column tile of the head, so no tile may rewrite them: a second, tiny kernel does that after the
// first has finished (stream order), instead of one block walking all of a head's tiles.
#include "ops/affine_scan/cuda/launch.h"
#include "ops/cuda/step_tiles.cuh"

namespace scanlab::ops::cuda {
namespace {

// mLSTM gate coefficients of one head from the state's stabilizer before the step.
struct MlstmGates {
  float a, b, m_new;
};
__device__ inline MlstmGates mlstm_gates(const MlstmStepParams& p, long long bh) {
  const float m_old = p.m[bh], log_f = p.log_f[bh], log_i = p.log_i[bh];
  const float m_new = fmaxf(log_f + m_old, log_i);
  return {expf(log_f + m_old - m_new), expf(log_i - m_new), m_new};
}

// One head's [K, V] state, columns [col, col + kVec): h <- sa ⊙ h + sk vᵀ (sa, sk, sq staged in
// shared memory), out = (qᵀh) * scale. kVec = 1, or 4 (float4 columns, see load_columns).
template <int kVec>
__device__ inline void update_column_tile(const float* sq, const float* sk, const float* sa, const float* v,
                                          float* state, float* out, int dk, int dv, int col, float scale,
                                          float* scratch) {
  float acc[kVec] = {};
  if (col < dv) {  // with kVec = 4 the launcher guarantees dv % 4 == 0
    float vv[kVec];
#pragma unroll
    for (int j = 0; j < kVec; ++j) vv[j] = v[col + j];
    float* s = state + col;
#pragma unroll 4
    for (int i = threadIdx.y; i < dk; i += kRowGroups) {
      float* row = s + static_cast<long long>(i) * dv;
      float h[kVec];
      load_columns<kVec>(row, h);
#pragma unroll
      for (int j = 0; j < kVec; ++j) {
        h[j] = fmaf(sa[i], h[j], sk[i] * vv[j]);
        acc[j] = fmaf(sq[i], h[j], acc[j]);
      }
      store_columns<kVec>(row, h);
    }
  }
#pragma unroll
  for (int j = 0; j < kVec; ++j) {
    const float total = sum_over_row_groups(acc[j], scratch);
    if (threadIdx.y == 0 && col < dv) out[col + j] = total * scale;
  }
}

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
  update_column_tile<kVec>(sq, sk, sa, p.v + bh * p.dv, p.state + bh * p.dk * static_cast<long long>(p.dv),
                           p.out + bh * p.dv, p.dk, p.dv, tile_column<kVec>(), 1.f, scratch);
}

// The matrix part of the mLSTM step for one column tile; reads n and m, writes neither.
template <int kVec>
__global__ void mlstm_matrix_step_kernel(MlstmStepParams p) {
  extern __shared__ float smem[];
  float* sq = smem;
  float* sk = smem + p.dk;  // b·k
  float* sa = smem + 2 * p.dk;
  float* scratch = smem + 3 * p.dk;
  const long long bh = blockIdx.x;
  const MlstmGates g = mlstm_gates(p, bh);
  // Normalizer readout qᵀn' with n' = a n + b k, from the old n (which the second kernel rewrites).
  float qn = 0.f;
  const float* n = p.n + bh * p.dk;
  for (int i = threadIdx.y * kLanes + threadIdx.x; i < p.dk; i += kLanes * kRowGroups) {
    const float qi = p.q[bh * p.dk + i], bk = g.b * p.k[bh * p.dk + i];
    sq[i] = qi;
    sk[i] = bk;
    sa[i] = g.a;
    qn = fmaf(qi, fmaf(g.a, n[i], bk), qn);
  }
  for (int offset = kLanes / 2; offset > 0; offset /= 2) qn += __shfl_down_sync(0xffffffffu, qn, offset);
  if (threadIdx.x == 0) scratch[threadIdx.y] = qn;
  __syncthreads();  // also publishes sq, sk, sa
  float qn_total = 0.f;
#pragma unroll
  for (int r = 0; r < kRowGroups; ++r) qn_total += scratch[r];
  __syncthreads();  // scratch is reused below
  const float den = fmaxf(fabsf(qn_total), expf(-g.m_new));
  update_column_tile<kVec>(sq, sk, sa, p.v + bh * p.dv, p.C + bh * p.dk * static_cast<long long>(p.dv),
                           p.out + bh * p.dv, p.dk, p.dv, tile_column<kVec>(), 1.f / den, scratch);
}

// n <- a n + b k and m <- m' for one head per block, after the matrix kernel has read both.
__global__ void mlstm_normalizer_step_kernel(MlstmStepParams p) {
  const long long bh = blockIdx.x;
  const MlstmGates g = mlstm_gates(p, bh);
  __syncthreads();  // every thread has read m before thread 0 rewrites it
  float* n = p.n + bh * p.dk;
  for (int i = threadIdx.x; i < p.dk; i += blockDim.x) n[i] = fmaf(g.a, n[i], g.b * p.k[bh * p.dk + i]);
  if (threadIdx.x == 0) p.m[bh] = g.m_new;
}

const dim3 kBlock(kLanes, kRowGroups);

// Launches kernel<4> (float4 columns) where float4_columns_fill_gpu says so, else kernel<1>.
template <class Params, class Kernel1, class Kernel4>
void launch_column_tiles(const Params& p, const float* state, Kernel1 kernel1, Kernel4 kernel4, cudaStream_t stream) {
  const size_t smem = sizeof(float) * (3 * static_cast<size_t>(p.dk) + kLanes * kRowGroups);
  const int vec = float4_columns_fill_gpu(p.batch_heads, p.dv, state) ? 4 : 1;
  const dim3 grid(static_cast<unsigned>(p.batch_heads),
                  static_cast<unsigned>((p.dv + vec * kLanes - 1) / (vec * kLanes)));
  if (vec == 4) {
    kernel4<<<grid, kBlock, smem, stream>>>(p);
  } else {
    kernel1<<<grid, kBlock, smem, stream>>>(p);
  }
}

}  // namespace

cudaError_t launch_affine_scan_step(const AffineStepParams& p, cudaStream_t stream) {
  if (p.batch_heads == 0 || p.dv == 0) return cudaSuccess;
  if (p.dk < 1 || p.dk > kMaxStepKeyDim) return cudaErrorInvalidValue;
  launch_column_tiles(p, p.state, affine_scan_step_kernel<1>, affine_scan_step_kernel<4>, stream);
  return cudaGetLastError();
}

cudaError_t launch_mlstm_step(const MlstmStepParams& p, cudaStream_t stream) {
  if (p.batch_heads == 0) return cudaSuccess;
  if (p.dk < 1 || p.dk > kMaxStepKeyDim || p.dv < 1) return cudaErrorInvalidValue;
  launch_column_tiles(p, p.C, mlstm_matrix_step_kernel<1>, mlstm_matrix_step_kernel<4>, stream);
  const cudaError_t matrix = cudaGetLastError();
  if (matrix != cudaSuccess) return matrix;
  mlstm_normalizer_step_kernel<<<static_cast<unsigned>(p.batch_heads), 128, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace scanlab::ops::cuda
