// Shared layout of the fused decode-step kernels (affine, mLSTM, delta rule). A block of
// kLanes x kRowGroups threads owns kLanes value columns of one head's [K, V] float32 state: lane l
// takes column c = tile * kLanes + l, warp g takes rows g, g + kRowGroups, ... so every warp reads
// and writes whole 128-byte row segments (coalesced), and K is split over kRowGroups warps, which
// keeps a batch-1 step short: per-column sums over K are finished across warps in shared memory.
#pragma once

namespace scanlab::ops::cuda {

constexpr int kLanes = 32;
constexpr int kRowGroups = 8;

// Sums `partial` over the kRowGroups warps of column `threadIdx.x`; every thread gets the column's
// total. `scratch` holds kRowGroups * kLanes floats. Contains __syncthreads: call from all threads.
__device__ inline float sum_over_row_groups(float partial, float* scratch) {
  scratch[threadIdx.y * kLanes + threadIdx.x] = partial;
  __syncthreads();
  float total = 0.f;
#pragma unroll
  for (int g = 0; g < kRowGroups; ++g) total += scratch[g * kLanes + threadIdx.x];
  __syncthreads();  // scratch may be reused right after
  return total;
}

// Copies n floats from global memory into shared memory with all threads of the block.
__device__ inline void stage(float* dst, const float* src, int n) {
  const int tid = threadIdx.y * kLanes + threadIdx.x;
  for (int i = tid; i < n; i += kLanes * kRowGroups) dst[i] = src[i];
}

}  // namespace scanlab::ops::cuda
