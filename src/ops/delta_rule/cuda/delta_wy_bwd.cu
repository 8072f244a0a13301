// Fused chunked (gated) delta rule, backward (cuda/delta_wy_launch.h; the forward and its notation:
// delta_wy_fwd.cu). The host runs three launches: output_backward per (chunk, head), the recurrence
// walked from the last chunk (cuda/delta_chunk_recurrence.cu, chunk_recurrence.cpp's backward), then
// prepare_backward per (chunk, head).
//
// output_backward, from do, with S̃ = Q Kᵀ ⊙ M and dP̃ = (do U_nᵀ) ⊙ M:
//   dq = e^g ⊙ (do h_nᵀ) + dP̃ K        dk_part = dP̃ᵀ Q        dU = S̃ᵀ do (the walk's X)
//   dh_n = (e^g ⊙ Q)ᵀ do (the walk's R)  dg_part_i = q_i·dq_i - k_i·dk_part_i
// (g_i enters e^{g_i} and M_i· with +, M_·i with -: q_i·dq_i and k_i·dk_i collect exactly those.)
//
// prepare_backward, from the walk's dX = dL/dU_n in total and D_n = dL/dh_{n+1}: first the
// recurrence's products that are not sequential,
//   dY = -dX h_nᵀ,  dK̃ = U_n D_nᵀ,  dγ = <D_n, h_n>,
// then, with T = (I + A)^{-1} recomputed, B_v = βV, B_k = βe^g ⊙ K (X = T B_v, Y = T B_k):
//   dB_v = Tᵀ dX,  dB_k = Tᵀ dY,  dT = dX B_vᵀ + dY B_kᵀ,  dA = -Tᵀ dT Tᵀ (strictly lower part;
//   only the strictly lower part of dT reaches it, so dT is masked first, as fla does)
//   with E_ij = e^{g_i-g_j} k_i·k_j (A = diag(β) E below the diagonal), P = dA ⊙ βe^{g_i-g_j}:
//   dk = dk_part + e^{G-g} ⊙ dK̃ + βe^g ⊙ dB_k + P K + Pᵀ K
//   dv = β ⊙ dB_v
//   dβ_i = v_i·dB_v,i + e^{g_i} k_i·dB_k,i + Σ_j dA_ij E_ij
//   dg_i = dg_part_i + β_i e^{g_i} k_i·dB_k,i + Σ_j R_ij - Σ_j R_ji - e^{G-g_i} k_i·dK̃_i,  R = dA ⊙ A,
//          plus at i = C-1 (G = g_{C-1} scales K̃ and γ) Σ_j e^{G-g_j} k_j·dK̃_j + e^G dγ.
// Products are bf16 on tensor cores with float32 accumulation (h_n, D_n, U_n, dX rounded to bf16 on
// chip); scalings, the row dot products and every reduction are float32 in a fixed order, so results
// are the same run to run.
#include "ops/delta_rule/cuda/delta_wy_tiles.cuh"

namespace scanlab::ops::cuda {
namespace {

using namespace delta_wy_detail;

// ---- output_backward --------------------------------------------------------------------------

template <int DK, int DV>
__global__ void __launch_bounds__(kThreads) output_backward_kernel(DeltaWyBackwardParams p) {
#if __CUDA_ARCH__ >= 800
  constexpr int NW = kWarps, W = imax<C, imax<DK, DV>()>(), lds = ldf<W>();
  extern __shared__ __align__(128) unsigned char smem[];
  bf16* sq = reinterpret_cast<bf16*>(smem);
  bf16* sk = sq + C * ldh<DK>();
  bf16* sdo = sk + C * ldh<DK>();
  bf16* sH = sdo + C * ldh<DV>();  // [DK, DV] h_n
  bf16* sU = sH + DK * ldh<DV>();
  bf16* sS = sU + C * ldh<DV>();  // (Q Kᵀ) ⊙ M
  bf16* sdP = sS + C * ldh<C>();  // (do U_nᵀ) ⊙ M
  float* stage = reinterpret_cast<float*>(sdP + C * ldh<C>());
  float* sg = stage + C * lds;
  float* e_g = sg + C;
  float* dot_q = e_g + C;
  float* dot_k = dot_q + C;
  const ChunkAt at(p.d);
  const bool gated = p.g != nullptr;
  const long long qs = static_cast<long long>(at.H) * DK;
  output_prologue<DK, DV>(at, p.g, p.q, p.k, p.d_o, p.states, p.u, sq, sk, sdo, sH, sU, sS, stage, lds, sg, e_g);
  {
    Frags<C, NW> s;
    zero<C, NW>(s);
    mma<wmma::row_major, wmma::col_major, C, DV, NW>(s, sdo, ldh<DV>(), sU, ldh<DV>());
    store<C, NW>(s, stage, lds);
  }
  __syncthreads();
  decay_mask(sdP, stage, lds, sg);
  __syncthreads();
  {  // dq = e^g ⊙ (do h_nᵀ) + dP̃ K
    Frags<DK, NW> acc;
    zero<DK, NW>(acc);
    mma<wmma::row_major, wmma::col_major, DK, DV, NW>(acc, sdo, ldh<DV>(), sH, ldh<DV>());
    if (gated) scale_rows_of<DK, NW>(acc, stage, lds, e_g);
    mma<wmma::row_major, wmma::row_major, DK, C, NW>(acc, sdP, ldh<C>(), sk, ldh<DK>());
    store<DK, NW>(acc, stage, lds);
    __syncthreads();
    row_pass<DK, NW>(stage, lds, nullptr, static_cast<bf16*>(p.dq) + at.row0 * DK, qs, at.valid, gated ? sq : nullptr,
                     dot_q);
    __syncthreads();
  }
  {  // dk_part = dP̃ᵀ Q
    Frags<DK, NW> acc;
    zero<DK, NW>(acc);
    mma<wmma::col_major, wmma::row_major, DK, C, NW>(acc, sdP, ldh<C>(), sq, ldh<DK>());
    store<DK, NW>(acc, p.dk_part + at.chunk * C * DK, DK);
    if (gated) {
      store<DK, NW>(acc, stage, lds);
      __syncthreads();
      row_pass<DK, NW>(stage, lds, nullptr, nullptr, 0, 0, sk, dot_k);
    }
  }
  {  // dU = S̃ᵀ do
    Frags<DV, NW> acc;
    zero<DV, NW>(acc);
    mma<wmma::col_major, wmma::row_major, DV, C, NW>(acc, sS, ldh<C>(), sdo, ldh<DV>());
    store<DV, NW>(acc, p.du + at.chunk * C * DV, DV);
  }
  __syncthreads();  // every read of q (and of dot_q, dot_k's writes) is done
  if (gated) {
    if (threadIdx.x < C) p.dg_part[at.chunk * C + threadIdx.x] = dot_q[threadIdx.x] - dot_k[threadIdx.x];
    scale_rows<DK>(sq, C, e_g);
    __syncthreads();
  }
  // dh_n = (e^g ⊙ Q)ᵀ do, one 64-key slice of the [DK, DV] block at a time.
#pragma unroll
  for (int k0 = 0; k0 < DK; k0 += 64) {
    Frags<DV, NW> acc;
    zero<DV, NW>(acc);
    mma<wmma::col_major, wmma::row_major, DV, C, NW>(acc, sq + k0, ldh<DK>(), sdo, ldh<DV>());
    store<DV, NW>(acc, p.dstate_in + at.chunk * DK * DV + static_cast<long long>(k0) * DV, DV);
  }
#endif
}

// ---- prepare_backward -------------------------------------------------------------------------

template <int DK, int DV>
__global__ void __launch_bounds__(kThreads) prepare_backward_kernel(DeltaWyBackwardParams p) {
#if __CUDA_ARCH__ >= 800
  constexpr int NW = kWarps, W = imax<C, imax<DK, DV>()>(), lds = ldf<W>();
  extern __shared__ __align__(128) unsigned char smem[];
  bf16* sdx = reinterpret_cast<bf16*>(smem);
  bf16* sdy = sdx + C * ldh<DV>();
  bf16* sk = sdy + C * ldh<DK>();
  bf16* uni = sk + C * ldh<DK>();
  // Phase 1 (the recurrence's products) and phase 2 (the UT transform's backward) share `uni`.
  bf16* sH = uni;                  // [DK, DV] h_n
  bf16* sD = sH + DK * ldh<DV>();  // [DK, DV] D_n
  bf16* sU = sD + DK * ldh<DV>();  // [C, DV] U_n
  bf16* sbk = uni;                 // β e^g ⊙ k
  bf16* sv = sbk + C * ldh<DK>();
  bf16* sbv = sv + C * ldh<DV>();  // β ⊙ v
  bf16* sT = sbv + C * ldh<DV>();
  bf16* sdT = sT + C * ldh<C>();  // dT masked, then P
  bf16* sM = sdT + C * ldh<C>();  // Tᵀ dT
  float* stage = reinterpret_cast<float*>(uni + prepare_backward_union<DK, DV>());
  float* sE = stage + C * lds;
  float* sb = sE + C * ldf<C>();
  float* sg = sb + C;
  float* e_g = sg + C;
  float* e_rest = e_g + C;
  float* bg = e_rest + C;
  float* dot_v = bg + C;       // v_i·dB_v,i
  float* dot_bk = dot_v + C;   // k_i·dB_k,i
  float* dot_kt = dot_bk + C;  // e^{G-g_i} k_i·dK̃_i
  float* row_a = dot_kt + C;   // Σ_j dA_ij E_ij
  float* col_r = row_a + C;    // Σ_j R_ji
  float* red = col_r + C;      // [NW] partial sums of <D_n, h_n>
  const ChunkAt at(p.d);
  const bool gated = p.g != nullptr;
  const long long kv = static_cast<long long>(DK) * DV;
  load_scalars(at, p.beta, p.g, sb, sg, e_g, e_rest);
  if (threadIdx.x < C) bg[threadIdx.x] = sb[threadIdx.x] * e_g[threadIdx.x];
  copy_rows<DK>(sk, static_cast<const bf16*>(p.k) + at.row0 * DK, static_cast<long long>(at.H) * DK, C, at.valid);
  commit_copies();
  convert_rows<DV>(sdx, p.dx + at.chunk * C * DV, DV, C);
  float hd = 0.f;  // this thread's part of dγ = <D_n, h_n>, from the float32 values
  convert_rows<DV>(sH, p.states + at.chunk * kv, DV, DK, p.dstates + at.chunk * kv, &hd);
  convert_rows<DV>(sD, p.dstates + at.chunk * kv, DV, DK);
  convert_rows<DV>(sU, p.u + at.chunk * C * DV, DV, C);
#pragma unroll
  for (int o = 16; o > 0; o /= 2) hd += __shfl_xor_sync(0xffffffffu, hd, o);
  if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = hd;
  wait_copies<0>();
  {  // dY = -dX h_nᵀ, rounded to a bf16 operand
    Frags<DK, NW> acc;
    zero<DK, NW>(acc);
    mma<wmma::row_major, wmma::col_major, DK, DV, NW>(acc, sdx, ldh<DV>(), sH, ldh<DV>());
    store<DK, NW>(acc, stage, lds);
    __syncthreads();
    for (int e = threadIdx.x; e < C * DK; e += blockDim.x) {
      const int r = e / DK, c = e % DK;
      sdy[r * ldh<DK>() + c] = __float2bfloat16(-stage[r * lds + c]);
    }
    __syncthreads();
  }
  // dk accumulates in registers from here: first e^{G-g} ⊙ dK̃, dK̃ = U_n D_nᵀ.
  Frags<DK, NW> dk;
  zero<DK, NW>(dk);
  mma<wmma::row_major, wmma::col_major, DK, DV, NW>(dk, sU, ldh<DV>(), sD, ldh<DV>());
  if (gated) {
    scale_rows_of<DK, NW>(dk, stage, lds, e_rest, sk, dot_kt);
  } else {
    __syncthreads();  // phase 1's tiles are free
  }
  // Phase 2.
  copy_rows<DV>(sv, static_cast<const bf16*>(p.v) + at.row0 * DV, static_cast<long long>(at.H) * DV, C, at.valid);
  commit_copies();
  {
    Frags<C, NW> s;  // S = K Kᵀ
    zero<C, NW>(s);
    mma<wmma::row_major, wmma::col_major, C, DK, NW>(s, sk, ldh<DK>(), sk, ldh<DK>());
    store<C, NW>(s, stage, lds);
  }
  scaled_copy<DK>(sbk, sk, bg);
  wait_copies<0>();
  scaled_copy<DV>(sbv, sv, sb);
  decay_strict(sE, ldf<C>(), stage, lds, sg);
  __syncthreads();
  invert_unit_lower(stage, ldf<C>(), sE, ldf<C>(), sb);
  round_square(sT, stage, ldf<C>(), /*strict=*/false);
  __syncthreads();
  {  // dB_v = Tᵀ dX: dv = β ⊙ dB_v, and v·dB_v for dβ
    Frags<DV, NW> acc;
    zero<DV, NW>(acc);
    mma<wmma::col_major, wmma::row_major, DV, C, NW>(acc, sT, ldh<C>(), sdx, ldh<DV>());
    store<DV, NW>(acc, stage, lds);
    __syncthreads();
    row_pass<DV, NW>(stage, lds, nullptr, nullptr, 0, 0, sv, dot_v);
    row_pass<DV, NW>(stage, lds, sb, static_cast<bf16*>(p.dv) + at.row0 * DV, static_cast<long long>(at.H) * DV,
                     at.valid, nullptr, nullptr);
    __syncthreads();
  }
  {  // dB_k = Tᵀ dY: dk += βe^g ⊙ dB_k, and k·dB_k for dβ and dg
    Frags<DK, NW> acc;
    zero<DK, NW>(acc);
    mma<wmma::col_major, wmma::row_major, DK, C, NW>(acc, sT, ldh<C>(), sdy, ldh<DK>());
    store<DK, NW>(acc, stage, lds);
    __syncthreads();
    row_pass<DK, NW>(stage, lds, nullptr, nullptr, 0, 0, sk, dot_bk);
    row_pass<DK, NW>(stage, lds, bg, nullptr, 0, 0, nullptr, nullptr);
    __syncthreads();
    load<DK, NW>(acc, stage, lds);
#pragma unroll
    for (int f = 0; f < Tiles<DK, NW>::kFrags; ++f)
#pragma unroll
      for (int e = 0; e < acc[f].num_elements; ++e) dk[f].x[e] += acc[f].x[e];
    __syncthreads();
  }
  {  // dT = dX B_vᵀ + dY B_kᵀ, strictly lower
    Frags<C, NW> t;
    zero<C, NW>(t);
    mma<wmma::row_major, wmma::col_major, C, DV, NW>(t, sdx, ldh<DV>(), sbv, ldh<DV>());
    mma<wmma::row_major, wmma::col_major, C, DK, NW>(t, sdy, ldh<DK>(), sbk, ldh<DK>());
    store<C, NW>(t, stage, lds);
    __syncthreads();
    round_square(sdT, stage, lds, /*strict=*/true);
    __syncthreads();
  }
  {  // M = Tᵀ dT
    Frags<C, NW> m;
    zero<C, NW>(m);
    mma<wmma::col_major, wmma::row_major, C, C, NW>(m, sT, ldh<C>(), sdT, ldh<C>());
    store<C, NW>(m, stage, lds);
    __syncthreads();
    round_square(sM, stage, lds, /*strict=*/false);
    __syncthreads();
  }
  {  // -dA = M Tᵀ
    Frags<C, NW> a;
    zero<C, NW>(a);
    mma<wmma::row_major, wmma::col_major, C, C, NW>(a, sM, ldh<C>(), sT, ldh<C>());
    store<C, NW>(a, stage, lds);
    __syncthreads();
  }
  // P = dA ⊙ βe^{g_i-g_j} into the dT tile (free now); the stage becomes dA ⊙ E (R = β_i times it).
  bf16* sP = sdT;
  for (int e = threadIdx.x; e < C * C; e += blockDim.x) {
    const int i = e / C, j = e % C;
    const float dA = j < i ? -stage[i * lds + j] : 0.f;
    sP[i * ldh<C>() + j] = __float2bfloat16(j < i ? dA * sb[i] * __expf(sg[i] - sg[j]) : 0.f);
    stage[i * lds + j] = dA * sE[i * ldf<C>() + j];
  }
  __syncthreads();
  if (threadIdx.x < C) {
    const int i = threadIdx.x;
    float row = 0.f, col = 0.f;
    for (int j = 0; j < C; ++j) {
      row += stage[i * lds + j];
      col += sb[j] * stage[j * lds + i];
    }
    row_a[i] = row;
    col_r[i] = col;
  }
  // dk += P K + Pᵀ K
  mma<wmma::row_major, wmma::row_major, DK, C, NW>(dk, sP, ldh<C>(), sk, ldh<DK>());
  mma<wmma::col_major, wmma::row_major, DK, C, NW>(dk, sP, ldh<C>(), sk, ldh<DK>());
  __syncthreads();  // the row sums have read the stage
  store<DK, NW>(dk, stage, lds);
  __syncthreads();
  const float* dk_part = p.dk_part + at.chunk * C * DK;
  bf16* dk_out = static_cast<bf16*>(p.dk) + at.row0 * DK;
  for (int e = threadIdx.x; e < at.valid * DK; e += blockDim.x) {
    const int r = e / DK, c = e % DK;
    dk_out[static_cast<long long>(r) * at.H * DK + c] = __float2bfloat16(stage[r * lds + c] + dk_part[e]);
  }
  if (threadIdx.x < C) {
    const int i = threadIdx.x;
    p.dbeta[at.chunk * C + i] = dot_v[i] + e_g[i] * dot_bk[i] + row_a[i];
    if (gated) {
      float d = p.dg_part[at.chunk * C + i] + bg[i] * dot_bk[i] + sb[i] * row_a[i] - col_r[i] - dot_kt[i];
      if (i == C - 1) {
        float kt = 0.f, hd_total = 0.f;
        for (int j = 0; j < C; ++j) kt += dot_kt[j];
        for (int w = 0; w < NW; ++w) hd_total += red[w];
        d += kt + e_g[C - 1] * hd_total;
      }
      p.dg[at.chunk * C + i] = d;
    }
  }
#endif
}

}  // namespace

cudaError_t launch_delta_wy_output_backward(const DeltaWyBackwardParams& p, cudaStream_t stream) {
  return by_dims(p.d, [&](auto k, auto v) {
    constexpr int DK = decltype(k)::value, DV = decltype(v)::value;
    return launch_per_chunk(output_backward_kernel<DK, DV>, output_backward_smem<DK, DV>(), p, stream);
  });
}

cudaError_t launch_delta_wy_prepare_backward(const DeltaWyBackwardParams& p, cudaStream_t stream) {
  return by_dims(p.d, [&](auto k, auto v) {
    constexpr int DK = decltype(k)::value, DV = decltype(v)::value;
    return launch_per_chunk(prepare_backward_kernel<DK, DV>, prepare_backward_smem<DK, DV>(), p, stream);
  });
}

}  // namespace scanlab::ops::cuda
