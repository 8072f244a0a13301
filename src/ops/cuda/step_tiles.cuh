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

// First of this thread's kVec value columns: tile blockIdx.y holds kLanes * kVec columns.
template <int kVec>
__device__ inline int tile_column() {
  return (blockIdx.y * kLanes + threadIdx.x) * kVec;
}

// Whether a step over `batch_heads` heads of `dv` columns should take float4 columns: the state
// must allow 16-byte row segments, and the 4x fewer blocks must still fill the GPU (~a few per SM);
// smaller grids keep one column per lane, which gives 4x the blocks and so a shorter step.
inline bool float4_columns_fill_gpu(long long batch_heads, int dv, const float* state) {
  const long long float4_tiles = (dv + 4 * kLanes - 1) / (4 * kLanes);
  return dv % 4 == 0 && reinterpret_cast<unsigned long long>(state) % 16 == 0 && batch_heads * float4_tiles >= 1024;
}

// kVec consecutive floats of a state row: one float, or one float4 (16-byte aligned; a warp then
// moves 512 contiguous bytes per row, which large batches need to approach the copy bandwidth).
template <int kVec>
__device__ inline void load_columns(const float* row, float* h) {
  static_assert(kVec == 1 || kVec == 4, "one column or a float4 of columns");
  if constexpr (kVec == 4) {
    const float4 v = *reinterpret_cast<const float4*>(row);
    h[0] = v.x, h[1] = v.y, h[2] = v.z, h[3] = v.w;
  } else {
    h[0] = row[0];
  }
}

template <int kVec>
__device__ inline void store_columns(float* row, const float* h) {
  if constexpr (kVec == 4) {
    *reinterpret_cast<float4*>(row) = make_float4(h[0], h[1], h[2], h[3]);
  } else {
    row[0] = h[0];
  }
}

}  // namespace scanlab::ops::cuda
