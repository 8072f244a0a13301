// Fused gated delta-rule decode step (layout: ops/cuda/step_tiles.cuh). Per value column c:
//   u_c = β (v_c - α Σ_i k_i h[i, c]),  h[i, c] = α h[i, c] + k_i u_c,  o_c = Σ_i q_i h[i, c].
// u_c needs the whole column before any entry is rewritten, so each thread holds its K / 8 entries
// (of one or four columns) in registers between the two passes: the state is read once and written once.
#include "ops/cuda/step_tiles.cuh"
#include "ops/delta_rule/cuda/launch.h"

namespace scanlab::ops::cuda {
namespace {

// kRows: state rows per thread (K / kRowGroups rounded up to a power of two), so a thread holds
// exactly what it needs in registers (a fixed maximum would spill to local memory). kVec: value
// columns per thread, 1, or 4 (float4 loads and stores, for large batches; see affine_step.cu).
template <int kRows, int kVec>
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
  const int col = tile_column<kVec>();  // with kVec = 4 the launcher guarantees dv % 4 == 0
  const bool live = col < p.dv;
  float* s = p.state + bh * p.dk * static_cast<long long>(p.dv) + col;
  float held[kRows][kVec];
  float kh[kVec] = {};
#pragma unroll
  for (int j = 0; j < kRows; ++j) {
    const int i = threadIdx.y + j * kRowGroups;
#pragma unroll
    for (int c = 0; c < kVec; ++c) held[j][c] = 0.f;
    if (i < p.dk && live) {
      load_columns<kVec>(s + static_cast<long long>(i) * p.dv, held[j]);
#pragma unroll
      for (int c = 0; c < kVec; ++c) {
        held[j][c] *= alpha;
        kh[c] = fmaf(sk[i], held[j][c], kh[c]);
      }
    }
  }
  float u[kVec];
#pragma unroll
  for (int c = 0; c < kVec; ++c)
    u[c] = beta * ((live ? p.v[bh * p.dv + col + c] : 0.f) - sum_over_row_groups(kh[c], scratch));
  float acc[kVec] = {};
#pragma unroll
  for (int j = 0; j < kRows; ++j) {
    const int i = threadIdx.y + j * kRowGroups;
    if (i < p.dk && live) {
      float h[kVec];
#pragma unroll
      for (int c = 0; c < kVec; ++c) {
        h[c] = fmaf(sk[i], u[c], held[j][c]);
        acc[c] = fmaf(sq[i], h[c], acc[c]);
      }
      store_columns<kVec>(s + static_cast<long long>(i) * p.dv, h);
    }
  }
#pragma unroll
  for (int c = 0; c < kVec; ++c) {
    const float total = sum_over_row_groups(acc[c], scratch);
    if (threadIdx.y == 0 && live) p.out[bh * p.dv + col + c] = total;
  }
}

template <int kRows, int kVec>
void launch_rows(const DeltaStepParams& p, cudaStream_t stream) {
  const int columns_per_block = kLanes * kVec;
  const dim3 grid(static_cast<unsigned>(p.batch_heads),
                  static_cast<unsigned>((p.dv + columns_per_block - 1) / columns_per_block));
  const size_t smem = sizeof(float) * (2 * static_cast<size_t>(p.dk) + kLanes * kRowGroups);
  delta_rule_step_kernel<kRows, kVec><<<grid, dim3(kLanes, kRowGroups), smem, stream>>>(p);
}

template <int kVec>
void launch_columns(const DeltaStepParams& p, cudaStream_t stream) {
  const int rows = (p.dk + kRowGroups - 1) / kRowGroups;
  if (rows <= 4) return launch_rows<4, kVec>(p, stream);
  if (rows <= 8) return launch_rows<8, kVec>(p, stream);
  if (rows <= 16) return launch_rows<16, kVec>(p, stream);
  if constexpr (kVec == 1) launch_rows<kMaxDeltaKeyDim / kRowGroups, 1>(p, stream);  // float4 stops at 16 rows
}

}  // namespace

cudaError_t launch_delta_rule_step(const DeltaStepParams& p, cudaStream_t stream) {
  if (p.batch_heads == 0 || p.dv == 0) return cudaSuccess;
  if (p.dk < 1 || p.dk > kMaxDeltaKeyDim) return cudaErrorInvalidValue;
  // float4 columns only while a thread's rows stay in registers (4 x 16 floats).
  if (float4_columns_fill_gpu(p.batch_heads, p.dv, p.state) && p.dk <= 16 * kRowGroups) {
    launch_columns<4>(p, stream);
  } else {
    launch_columns<1>(p, stream);
  }
  return cudaGetLastError();
}

}  // namespace scanlab::ops::cuda
