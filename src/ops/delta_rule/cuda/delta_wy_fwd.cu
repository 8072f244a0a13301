// Fused chunked (gated) delta rule, forward (cuda/delta_wy_launch.h): the per-chunk kernels around the
// inter-chunk recurrence (cuda/delta_chunk_recurrence.cu), on tensor cores (WMMA 16x16x16 bf16 products
// with float32 accumulation, sm_80 and later). Per chunk of C = 64 tokens, with g the cumulative log
// gate (G = g_{C-1}) and h_n the state entering the chunk (the derivation: ops/delta_rule/delta_rule.cpp):
//   prepare  (I + A) [X | Y] = [βV | βe^g ⊙ K],  A_ij = β_i e^{g_i-g_j} k_i·k_j (j < i),
//            K̃ = e^{G-g} ⊙ K,  γ = e^G
//   (recurrence: U_n = X_n - Y_n h_n, h_{n+1} = γ h_n + K̃ᵀ U_n)
//   output   o = e^g ⊙ (Q h_n) + (Q Kᵀ ⊙ M) U_n,  M_ij = [j <= i] e^{g_i-g_j}
// Every exponent is <= 0. The UT transform: T = (I + A)^{-1} by forward substitution in float32 on
// chip (one row a step, 64 steps; the [64, 64] solve is too small to pay for fla's blocked inverse),
// then X = T βV and Y = T βe^g K on tensor cores with T rounded to bf16, as fla's recompute_w_u does.
// Why this split, not one kernel for all: the recurrence is the only sequential part; keeping the
// chunk-parallel work in per-(chunk, head) blocks gives the GPU B·H·NC blocks for it, and the
// recurrence kernel (float32, with its own hand-written backward) is reused unchanged in both
// directions. The price is X, Y, K̃ and the float32 states going through HBM once each.
#include "ops/delta_rule/cuda/delta_wy_tiles.cuh"

namespace scanlab::ops::cuda {
namespace {

using namespace delta_wy_detail;

// ---- prepare: the UT transform of one chunk ---------------------------------------------------

template <int DK, int DV>
__global__ void __launch_bounds__(kThreads) prepare_kernel(DeltaWyForwardParams p) {
#if __CUDA_ARCH__ >= 800
  constexpr int NW = kWarps, W = imax<C, imax<DK, DV>()>(), lds = ldf<W>();
  extern __shared__ __align__(128) unsigned char smem[];
  bf16* sk = reinterpret_cast<bf16*>(smem);
  bf16* sbk = sk + C * ldh<DK>();   // β e^g ⊙ k
  bf16* sbv = sbk + C * ldh<DK>();  // β ⊙ v
  bf16* sT = sbv + C * ldh<DV>();
  float* stage = reinterpret_cast<float*>(sT + C * ldh<C>());
  float* sE = stage + C * lds;
  float* sb = sE + C * ldf<C>();
  float* sg = sb + C;
  float* e_g = sg + C;
  float* e_rest = e_g + C;
  float* bg = e_rest + C;
  const ChunkAt at(p.d);
  load_scalars(at, p.beta, p.g, sb, sg, e_g, e_rest);
  if (threadIdx.x < C) bg[threadIdx.x] = sb[threadIdx.x] * e_g[threadIdx.x];
  copy_rows<DK>(sk, static_cast<const bf16*>(p.k) + at.row0 * DK, static_cast<long long>(at.H) * DK, C, at.valid);
  copy_rows<DV>(sbv, static_cast<const bf16*>(p.v) + at.row0 * DV, static_cast<long long>(at.H) * DV, C, at.valid);
  commit_copies();
  wait_copies<0>();
  {
    Frags<C, NW> s;  // S = K Kᵀ
    zero<C, NW>(s);
    mma<wmma::row_major, wmma::col_major, C, DK, NW>(s, sk, ldh<DK>(), sk, ldh<DK>());
    store<C, NW>(s, stage, lds);
  }
  scaled_copy<DK>(sbk, sk, bg);
  scale_rows<DV>(sbv, C, sb);
  // K̃ and γ go straight to the recurrence's inputs.
  float* kt = p.k_state + at.chunk * C * DK;
  for (int e = threadIdx.x; e < C * DK; e += blockDim.x) {
    const int r = e / DK, c = e % DK;
    kt[e] = __bfloat162float(sk[r * ldh<DK>() + c]) * e_rest[r];
  }
  if (threadIdx.x == 0) p.gamma[at.chunk] = e_g[C - 1];
  __syncthreads();
  decay_strict(sE, ldf<C>(), stage, lds, sg);
  __syncthreads();
  float* Tf = stage;  // S is no longer needed
  invert_unit_lower(Tf, ldf<C>(), sE, ldf<C>(), sb);
  round_square(sT, Tf, ldf<C>(), /*strict=*/false);
  __syncthreads();
  {
    Frags<DV, NW> x;  // X = T βV
    zero<DV, NW>(x);
    mma<wmma::row_major, wmma::row_major, DV, C, NW>(x, sT, ldh<C>(), sbv, ldh<DV>());
    store<DV, NW>(x, p.x + at.chunk * C * DV, DV);
  }
  {
    Frags<DK, NW> y;  // Y = T βe^g K
    zero<DK, NW>(y);
    mma<wmma::row_major, wmma::row_major, DK, C, NW>(y, sT, ldh<C>(), sbk, ldh<DK>());
    store<DK, NW>(y, p.y + at.chunk * C * DK, DK);
  }
#endif
}

// ---- output -----------------------------------------------------------------------------------

template <int DK, int DV>
__global__ void __launch_bounds__(kThreads) output_kernel(DeltaWyForwardParams p) {
#if __CUDA_ARCH__ >= 800
  constexpr int NW = kWarps, W = imax<C, DV>(), lds = ldf<W>();
  extern __shared__ __align__(128) unsigned char smem[];
  bf16* sq = reinterpret_cast<bf16*>(smem);
  bf16* sk = sq + C * ldh<DK>();
  bf16* sS = sk + C * ldh<DK>();  // (Q Kᵀ) ⊙ M
  bf16* sH = sS + C * ldh<C>();   // [DK, DV] h_n
  bf16* sU = sH + DK * ldh<DV>();
  float* stage = reinterpret_cast<float*>(sU + C * ldh<DV>());
  float* sg = stage + C * lds;
  float* e_g = sg + C;
  const ChunkAt at(p.d);
  output_prologue<DK, DV>(at, p.g, p.q, p.k, nullptr, p.states, p.u, sq, sk, nullptr, sH, sU, sS, stage, lds, sg, e_g);
  Frags<DV, NW> acc;
  zero<DV, NW>(acc);
  mma<wmma::row_major, wmma::row_major, DV, DK, NW>(acc, sq, ldh<DK>(), sH, ldh<DV>());
  if (p.g) scale_rows_of<DV, NW>(acc, stage, lds, e_g);
  mma<wmma::row_major, wmma::row_major, DV, C, NW>(acc, sS, ldh<C>(), sU, ldh<DV>());
  store<DV, NW>(acc, stage, lds);
  __syncthreads();
  row_pass<DV, NW>(stage, lds, nullptr, static_cast<bf16*>(p.o) + at.row0 * DV, static_cast<long long>(at.H) * DV,
                   at.valid, nullptr, nullptr);
#endif
}

}  // namespace

size_t delta_wy_smem_bytes(int dk, int dv) {
  size_t bytes = 0;
  by_dims(ChunkGateDims{1, 1, 1, dk, dv}, [&](auto k, auto v) {
    constexpr int DK = decltype(k)::value, DV = decltype(v)::value;
    bytes = prepare_smem<DK, DV>();
    for (size_t b : {output_smem<DK, DV>(), output_backward_smem<DK, DV>(), prepare_backward_smem<DK, DV>()})
      bytes = b > bytes ? b : bytes;
    return cudaSuccess;
  });
  return bytes;
}

cudaError_t launch_delta_wy_prepare(const DeltaWyForwardParams& p, cudaStream_t stream) {
  return by_dims(p.d, [&](auto k, auto v) {
    constexpr int DK = decltype(k)::value, DV = decltype(v)::value;
    return launch_per_chunk(prepare_kernel<DK, DV>, prepare_smem<DK, DV>(), p, stream);
  });
}

cudaError_t launch_delta_wy_output(const DeltaWyForwardParams& p, cudaStream_t stream) {
  return by_dims(p.d, [&](auto k, auto v) {
    constexpr int DK = decltype(k)::value, DV = decltype(v)::value;
    return launch_per_chunk(output_kernel<DK, DV>, output_smem<DK, DV>(), p, stream);
  });
}

}  // namespace scanlab::ops::cuda
