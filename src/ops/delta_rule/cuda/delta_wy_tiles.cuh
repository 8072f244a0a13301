// Device pieces shared by the delta rule's per-chunk kernels (delta_wy_fwd.cu, delta_wy_bwd.cu): the
// chunk a block owns, its per-token scalars, the decayed key products E and the unit lower-triangular
// inverse T = (I + A)^{-1} in float32, and the shared-memory sizes (the host's supports() needs them
// too, through delta_wy_smem_bytes). The tiles, products and copies are chunk_gate_tiles.cuh's.
#pragma once
#include "ops/affine_scan/cuda/chunk_gate_tiles.cuh"
#include "ops/delta_rule/cuda/delta_wy_launch.h"

namespace scanlab::ops::cuda::delta_wy_detail {

using namespace chunk_gate_detail;

// Every kernel runs 8 warps: invert_unit_lower gives each of the 64 columns of T four threads.
constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
static_assert(kThreads == 4 * C, "invert_unit_lower needs four threads a column");

template <int A, int B>
__host__ __device__ constexpr int imax() {
  return A > B ? A : B;
}

// Shared memory of each kernel (the .cu files lay their buffers out in this order).
template <int DK, int DV>
__host__ __device__ constexpr size_t prepare_smem() {
  // bf16 k, βe^g k, βv, T; float32 stage (S, then A in place, then T in float32: E below) and E; 4 vectors
  return sizeof(bf16) * (2 * C * ldh<DK>() + C * ldh<DV>() + C * ldh<C>()) +
         sizeof(float) * (C * ldf<imax<C, imax<DK, DV>()>()>() + C * ldf<C>() + 5 * C);
}

template <int DK, int DV>
__host__ __device__ constexpr size_t output_smem() {
  // bf16 q, k, S, h_n, U; float32 stage; g, e^g
  return sizeof(bf16) * (2 * C * ldh<DK>() + C * ldh<C>() + DK * ldh<DV>() + C * ldh<DV>()) +
         sizeof(float) * (C * ldf<imax<C, DV>()>() + 2 * C);
}

template <int DK, int DV>
__host__ __device__ constexpr size_t output_backward_smem() {
  // bf16 q, k, do, h_n, U, S, dP; float32 stage; g, e^g, q·dq, k·dk
  return sizeof(bf16) * (2 * C * ldh<DK>() + C * ldh<DV>() + DK * ldh<DV>() + C * ldh<DV>() + 2 * C * ldh<C>()) +
         sizeof(float) * (C * ldf<imax<C, imax<DK, DV>()>()>() + 4 * C);
}

template <int DK, int DV>
__host__ __device__ constexpr size_t prepare_backward_union() {
  // phase 1: h_n, D_n, U_n; phase 2: βe^g k, v, βv, T, dT (then P), M
  return imax<2 * DK * ldh<DV>() + C * ldh<DV>(), C * ldh<DK>() + 2 * C * ldh<DV>() + 3 * C * ldh<C>()>();
}

template <int DK, int DV>
__host__ __device__ constexpr size_t prepare_backward_smem() {
  // bf16 dX, dY, k, the union; float32 stage (also T in float32) and E; 10 vectors and a warp reduction
  return sizeof(bf16) * (C * ldh<DV>() + 2 * C * ldh<DK>() + prepare_backward_union<DK, DV>()) +
         sizeof(float) * (C * ldf<imax<C, imax<DK, DV>()>()>() + C * ldf<C>() + 10 * C + kWarps + 4);
}

// The chunk a block owns: blockIdx.x = bh · NC + n, as every per-chunk kernel of chunk_gate.cu.
struct ChunkAt {
  int H, T, NC, bh, n, b, h, valid;
  long long row0;   // row of the chunk's first token in the [B, T, H, ·] inputs
  long long chunk;  // bh · NC + n: index of the chunk's [C, ·] and [K, V] blocks and its C scalars
  __device__ explicit ChunkAt(const ChunkGateDims& d)
      : H(d.heads),
        T(d.tokens),
        NC(d.chunks()),
        bh(blockIdx.x / NC),
        n(blockIdx.x % NC),
        b(bh / H),
        h(bh % H),
        valid(min(C, T - n * C)),
        row0((static_cast<long long>(b) * T + n * C) * H + h),
        chunk(static_cast<long long>(bh) * NC + n) {}
};

// The chunk's β, g (0 without a gate), e^g and e^{G-g} into shared vectors of C floats. No barrier.
__device__ inline void load_scalars(const ChunkAt& at, const float* beta, const float* g, float* sb, float* sg,
                                    float* e_g, float* e_rest) {
  if (threadIdx.x < C) {
    const int i = threadIdx.x;
    const float gi = g ? g[at.chunk * C + i] : 0.f, G = g ? g[at.chunk * C + C - 1] : 0.f;
    sb[i] = beta[at.chunk * C + i];
    sg[i] = gi;
    e_g[i] = __expf(gi);
    e_rest[i] = __expf(G - gi);
  }
}

// E_ij = e^{g_i - g_j} S_ij below the diagonal (j < i; the exponent is <= 0) and 0 elsewhere, from
// the float32 S (row stride lds) into E (row stride lde). E may be S (each element is read and
// written by one thread).
__device__ inline void decay_strict(float* E, int lde, const float* S, int lds, const float* g) {
  for (int e = threadIdx.x; e < C * C; e += blockDim.x) {
    const int i = e / C, j = e % C;
    E[i * lde + j] = j < i ? S[i * lds + j] * __expf(g[i] - g[j]) : 0.f;
  }
}

// T = (I + A)^{-1} for the strictly lower A_ij = β_i E_ij, in float32, by forward substitution row by
// row: T_i = e_i - β_i Σ_{j<i} E_ij T_j (row i of T needs rows j < i only). Thread t owns column
// c = t / 4 and the terms j ≡ c + t % 4 (mod 4) of its sums, which the four neighbouring lanes add in
// a fixed order, so T is the same run to run. One barrier a row; T may not alias E.
__device__ inline void invert_unit_lower(float* Tf, int ldt, const float* E, int lde, const float* beta) {
  const int c = threadIdx.x / 4, part = threadIdx.x % 4;
  for (int i = 0; i < C; ++i) {
    float acc = 0.f;
    for (int j = c + part; j < i; j += 4) acc = fmaf(E[i * lde + j], Tf[j * ldt + c], acc);
    acc += __shfl_xor_sync(0xffffffffu, acc, 1);
    acc += __shfl_xor_sync(0xffffffffu, acc, 2);
    if (part == 0) Tf[i * ldt + c] = c < i ? -beta[i] * acc : (c == i ? 1.f : 0.f);
    __syncthreads();
  }
}

// A float32 [C, C] tile (row stride lds) rounded into a bf16 tile; with `strict`, only j < i is kept.
__device__ inline void round_square(bf16* dst, const float* src, int lds, bool strict) {
  for (int e = threadIdx.x; e < C * C; e += blockDim.x) {
    const int i = e / C, j = e % C;
    dst[i * ldh<C>() + j] = __float2bfloat16(!strict || j < i ? src[i * lds + j] : 0.f);
  }
}

// dst = src with row r times scale[r] (float32 product, rounded to bf16), for [C, W] bf16 tiles.
template <int W>
__device__ void scaled_copy(bf16* dst, const bf16* src, const float* scale) {
  for (int e = threadIdx.x; e < C * W; e += blockDim.x) {
    const int r = e / W, c = e % W;
    dst[r * ldh<W>() + c] = __float2bfloat16(__bfloat162float(src[r * ldh<W>() + c]) * scale[r]);
  }
}

// The start both output kernels share: the chunk's g and e^g, q and k (and, with `extra`, one more
// [C, DV] bf16 input such as do, into sx) copied, h_n and U_n rounded to bf16 operands meanwhile, then
// S̃ = (Q Kᵀ) ⊙ M in sS. Ends with a barrier; the stage (row stride lds) is free again.
template <int DK, int DV>
__device__ void output_prologue(const ChunkAt& at, const float* g, const void* q, const void* k, const void* extra,
                                const float* states, const float* u, bf16* sq, bf16* sk, bf16* sx, bf16* sH, bf16* sU,
                                bf16* sS, float* stage, int lds, float* sg, float* e_g) {
  if (threadIdx.x < C) {
    const float gi = g ? g[at.chunk * C + threadIdx.x] : 0.f;
    sg[threadIdx.x] = gi;
    e_g[threadIdx.x] = __expf(gi);
  }
  const long long qs = static_cast<long long>(at.H) * DK;
  copy_rows<DK>(sq, static_cast<const bf16*>(q) + at.row0 * DK, qs, C, at.valid);
  copy_rows<DK>(sk, static_cast<const bf16*>(k) + at.row0 * DK, qs, C, at.valid);
  if (extra)
    copy_rows<DV>(sx, static_cast<const bf16*>(extra) + at.row0 * DV, static_cast<long long>(at.H) * DV, C, at.valid);
  commit_copies();
  convert_rows<DV>(sH, states + at.chunk * DK * DV, DV, DK);
  convert_rows<DV>(sU, u + at.chunk * C * DV, DV, C);
  wait_copies<0>();
  {
    Frags<C, kWarps> s;
    zero<C, kWarps>(s);
    mma<wmma::row_major, wmma::col_major, C, DK, kWarps>(s, sq, ldh<DK>(), sk, ldh<DK>());
    store<C, kWarps>(s, stage, lds);
  }
  __syncthreads();
  decay_mask(sS, stage, lds, sg);
  __syncthreads();
}

// One block of kThreads per (chunk, head) with `bytes` of dynamic shared memory.
template <typename Params>
cudaError_t launch_per_chunk(void (*kernel)(Params), size_t bytes, const Params& p, cudaStream_t stream) {
  if (!chunk_gate_supported(p.d.dk, p.d.dv)) return cudaErrorInvalidValue;
  if (empty(p.d)) return cudaSuccess;
  const cudaError_t opt_in = allow_smem(kernel, bytes);
  if (opt_in != cudaSuccess) return opt_in;
  const unsigned blocks = static_cast<unsigned>(static_cast<long long>(p.d.batch) * p.d.heads * p.d.chunks());
  kernel<<<blocks, kThreads, bytes, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace scanlab::ops::cuda::delta_wy_detail
