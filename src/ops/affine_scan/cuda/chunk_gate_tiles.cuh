// Device pieces shared by the fused chunked kernels for identity and scalar gates (chunk_gate.cu:
// outputs and input gradients; chunk_gate_state.cu: the passes over chunk states): the WMMA tiles of
// a [64, N] product dealt to the warps, cp.async copies into padded shared tiles, row scalings of
// float32 products staged through shared memory, the launchers' dispatch on (K, V). Those two files,
// chunk_vector_gate.cu (the per-key gate) and the delta rule's per-chunk kernels
// (ops/delta_rule/cuda/delta_wy_*.cu) include it.
#pragma once
#include <cuda_bf16.h>
#include <mma.h>

#include <type_traits>

#include "ops/affine_scan/cuda/chunk_gate_launch.h"

namespace scanlab::ops::cuda::chunk_gate_detail {

using namespace nvcuda;
using bf16 = __nv_bfloat16;
using Acc = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;

constexpr int C = kGateChunk;
// Row paddings of shared tiles: rows stay 16-byte aligned (WMMA and vector loads need it) and
// consecutive rows start in different banks.
template <int W>
__host__ __device__ constexpr int ldh() {
  return W + 8;
}  // bf16 tiles
template <int W>
__host__ __device__ constexpr int ldf() {
  return W + 4;
}  // float32 staging

// The 16 x 16 fragments of a [64, N] product, dealt to NW warps: warp w owns fragments
// w * kFrags .. w * kFrags + kFrags - 1 in row-major order of the fragment grid.
template <int N, int NW>
struct Tiles {
  static constexpr int kCols = N / 16;
  static constexpr int kFrags = 4 * kCols / NW;
  static_assert(4 * kCols % NW == 0, "the fragments must split evenly over the warps");
  __device__ static int row(int f) { return (static_cast<int>(threadIdx.x) / 32 * kFrags + f) / kCols * 16; }
  __device__ static int col(int f) { return (static_cast<int>(threadIdx.x) / 32 * kFrags + f) % kCols * 16; }
};

template <int N, int NW>
using Frags = Acc[Tiles<N, NW>::kFrags];

template <int N, int NW>
__device__ void zero(Frags<N, NW>& acc) {
#pragma unroll
  for (int f = 0; f < Tiles<N, NW>::kFrags; ++f) wmma::fill_fragment(acc[f], 0.f);
}

template <int N, int NW>
__device__ void scale(Frags<N, NW>& acc, float s) {
#pragma unroll
  for (int f = 0; f < Tiles<N, NW>::kFrags; ++f)
#pragma unroll
    for (int e = 0; e < acc[f].num_elements; ++e) acc[f].x[e] *= s;
}

// acc += A B for the [64, N] output, A [64, R], B [R, N]; LA / LB say how A and B lie in memory
// (row_major: element (r, c) at p[r * ld + c]; col_major: at p[r + c * ld]).
template <class LA, class LB, int N, int R, int NW>
__device__ void mma(Frags<N, NW>& acc, const bf16* A, int lda, const bf16* B, int ldb) {
  using T = Tiles<N, NW>;
#pragma unroll
  for (int f = 0; f < T::kFrags; ++f) {
    const int r = T::row(f), c = T::col(f);
#pragma unroll
    for (int kk = 0; kk < R; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, LA> a;
      wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, LB> b;
      wmma::load_matrix_sync(a, std::is_same<LA, wmma::row_major>::value ? A + r * lda + kk : A + r + kk * lda, lda);
      wmma::load_matrix_sync(b, std::is_same<LB, wmma::row_major>::value ? B + kk * ldb + c : B + kk + c * ldb, ldb);
      wmma::mma_sync(acc[f], a, b, acc[f]);
    }
  }
}

template <int N, int NW>
__device__ void store(const Frags<N, NW>& acc, float* s, int lds) {
  using T = Tiles<N, NW>;
#pragma unroll
  for (int f = 0; f < T::kFrags; ++f)
    wmma::store_matrix_sync(s + T::row(f) * lds + T::col(f), acc[f], lds, wmma::mem_row_major);
}

template <int N, int NW>
__device__ void load(Frags<N, NW>& acc, const float* s, int lds) {
  using T = Tiles<N, NW>;
#pragma unroll
  for (int f = 0; f < T::kFrags; ++f)
    wmma::load_matrix_sync(acc[f], s + T::row(f) * lds + T::col(f), lds, wmma::mem_row_major);
}

// Global-to-shared copies go through cp.async (sm_80): every thread issues all of its 16-byte copies
// back to back and waits once for the group, so a tile costs one memory latency, not one per vector
// (plain loads and stores through registers were serialised: the compiler cannot move a load of
// `src` above a store to a shared tile it might alias).
__device__ inline void copy16_async(void* smem, const void* gmem, bool fill) {
#if __CUDA_ARCH__ >= 800
  const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(gmem), "r"(fill ? 16 : 0));
#endif
}
__device__ inline void commit_copies() {
#if __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}
// Waits until at most `pending` committed groups of this thread are still in flight, then for the block.
template <int pending>
__device__ inline void wait_copies() {
#if __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(pending));
#endif
  __syncthreads();
}

// rows x W bf16 from global memory (row r at src + r * stride) into a shared tile, asynchronously;
// rows from `valid` on become zeros (the padding after the last token).
template <int W>
__device__ void copy_rows(bf16* dst, const bf16* src, long long stride, int rows, int valid) {
  constexpr int kVecs = W / 8;  // 16-byte vectors of a row
  for (int e = threadIdx.x; e < rows * kVecs; e += blockDim.x) {
    const int r = e / kVecs, c = e % kVecs * 8;
    copy16_async(dst + r * ldh<W>() + c, r < valid ? src + r * stride + c : src, r < valid);
  }
}

// n floats (a multiple of 4, 16-byte aligned on both sides), asynchronously.
__device__ inline void copy_floats(float* dst, const float* src, int n) {
  for (int e = threadIdx.x * 4; e < n; e += blockDim.x * 4) copy16_async(dst + e, src + e, true);
}

// rows x W float32 from global memory (row r at src + r * stride; 16-byte aligned rows) rounded into
// a shared bf16 tile, synchronously (cp.async cannot convert). With `dot`, each thread also adds the
// float32 products src * other (same layout as src) of the elements it converts to *dot.
template <int W>
__device__ void convert_rows(bf16* dst, const float* src, long long stride, int rows, const float* other = nullptr,
                             float* dot = nullptr) {
  constexpr int kVecs = W / 4;  // float4 of a row
  for (int e = threadIdx.x; e < rows * kVecs; e += blockDim.x) {
    const int r = e / kVecs, c = e % kVecs * 4;
    const float4 x = *reinterpret_cast<const float4*>(src + r * stride + c);
    __nv_bfloat162* d = reinterpret_cast<__nv_bfloat162*>(dst + r * ldh<W>() + c);
    d[0] = __floats2bfloat162_rn(x.x, x.y);
    d[1] = __floats2bfloat162_rn(x.z, x.w);
    if (dot) {
      const float4 y = *reinterpret_cast<const float4*>(other + r * stride + c);
      *dot += x.x * y.x + x.y * y.y + x.z * y.z + x.w * y.w;
    }
  }
}

// Multiplies row r of a shared [rows, W] bf16 tile by scale[r] (float32 product, rounded to bf16).
template <int W>
__device__ void scale_rows(bf16* tile, int rows, const float* scale) {
  for (int e = threadIdx.x; e < rows * (W / 2); e += blockDim.x) {
    const int r = e / (W / 2), c = e % (W / 2) * 2;
    __nv_bfloat162* x = reinterpret_cast<__nv_bfloat162*>(tile + r * ldh<W>() + c);
    const float2 f = __bfloat1622float2(*x);
    *x = __floats2bfloat162_rn(f.x * scale[r], f.y * scale[r]);
  }
}

// The [64, 64] intra-chunk product in `stage` (row stride lds) times the decay mask M, rounded to a
// bf16 tile.
__device__ inline void decay_mask(bf16* dst, const float* stage, int lds, const float* g) {
  for (int e = threadIdx.x; e < C * C; e += blockDim.x) {
    const int i = e / C, j = e % C;
    dst[i * ldh<C>() + j] = __float2bfloat16(j <= i ? stage[i * lds + j] * __expf(g[i] - g[j]) : 0.f);
  }
}

// One warp per row of a [64, W] float32 stage (row stride lds): multiplies row r by row_scale[r]
// (when given), writes rows r < valid to dst + r * stride as bf16 (when given), and stores the row's
// dot product with row r of the bf16 tile x into dot[r] (when given).
template <int W, int NW>
__device__ void row_pass(float* stage, int lds, const float* row_scale, bf16* dst, long long stride, int valid,
                         const bf16* x, float* dot) {
  const int lane = threadIdx.x % 32;
  for (int r = threadIdx.x / 32; r < C; r += NW) {
    const float s = row_scale ? row_scale[r] : 1.f;
    float sum = 0.f;
#pragma unroll
    for (int c = 2 * lane; c < W; c += 64) {
      float2 y = make_float2(stage[r * lds + c] * s, stage[r * lds + c + 1] * s);
      if (row_scale) stage[r * lds + c] = y.x, stage[r * lds + c + 1] = y.y;
      if (dst && r < valid) *reinterpret_cast<__nv_bfloat162*>(dst + r * stride + c) = __floats2bfloat162_rn(y.x, y.y);
      if (x) {
        const float2 xv = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(x + r * ldh<W>() + c));
        sum += xv.x * y.x + xv.y * y.y;
      }
    }
    if (dot) {
#pragma unroll
      for (int o = 16; o > 0; o /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, o);
      if (lane == 0) dot[r] = sum;
    }
  }
}

// acc's rows times row_scale[r], through the float32 stage (a WMMA accumulator's element-to-row map
// is unspecified); with x, dot[r] also gets the scaled row's dot product with row r of the bf16 tile
// x. Contains __syncthreads: call from all threads; the stage is free again on return.
template <int N, int NW>
__device__ void scale_rows_of(Frags<N, NW>& acc, float* stage, int lds, const float* row_scale, const bf16* x = nullptr,
                              float* dot = nullptr) {
  store<N, NW>(acc, stage, lds);
  __syncthreads();
  row_pass<N, NW>(stage, lds, row_scale, nullptr, 0, 0, x, dot);
  __syncthreads();
  load<N, NW>(acc, stage, lds);
  __syncthreads();
}

template <typename Kernel>
cudaError_t allow_smem(Kernel kernel, size_t bytes) {
  // Above 48 KB a kernel must opt in to dynamic shared memory. The setting belongs to the current
  // device, so it is made at every launch (a host-side call of a few microseconds).
  return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
}

// Calls f(integral_constant<DK>, integral_constant<DV>) for the supported (K, V): the launchers'
// one switch from run-time dims to the kernels' template arguments.
template <typename F>
cudaError_t by_dims(const ChunkGateDims& d, F&& f) {
  if (d.dk == 64 && d.dv == 64) return f(std::integral_constant<int, 64>{}, std::integral_constant<int, 64>{});
  if (d.dk == 64 && d.dv == 128) return f(std::integral_constant<int, 64>{}, std::integral_constant<int, 128>{});
  if (d.dk == 128 && d.dv == 64) return f(std::integral_constant<int, 128>{}, std::integral_constant<int, 64>{});
  if (d.dk == 128 && d.dv == 128) return f(std::integral_constant<int, 128>{}, std::integral_constant<int, 128>{});
  return cudaErrorInvalidValue;
}

// Nothing to launch (a launch with zero blocks is an error).
inline bool empty(const ChunkGateDims& d) { return d.batch <= 0 || d.heads <= 0 || d.tokens <= 0; }

// The pass over chunk states (chunk_gate_state.cu), from `init` (null: zeros) saving every chunk's state
// and writing the final one; split into `segments` runs (scratch: chunk_gate_scratch_floats) when
// segments > 1. Forward: a = k, b = v; backward (reverse = 1): a = q, b = do.
cudaError_t launch_state_pass(const ChunkGateDims& d, const bf16* a, const bf16* b, const float* g, const float* init,
                              bf16* states, float* final_state, int reverse, int segments, float* scratch,
                              cudaStream_t stream);

}  // namespace scanlab::ops::cuda::chunk_gate_detail
