// Fused chunked affine scan for the vector (per-key) gate, GLA (cuda/chunk_vector_gate_launch.h),
// forward and backward on tensor cores (WMMA 16x16x16 bf16 products, float32 accumulation, sm_80+).
// With the cumulative log gate g_i ∈ R^K inside each chunk of C = 64 tokens and G = g_{C-1}:
//   o_i = (q_i ⊙ e^{g_i}) x_n + Σ_{j<=i} A_ij v_j,   A_ij = Σ_k q_ik k_jk e^{g_ik - g_jk}
//   x_{n+1} = diag(e^G) x_n + (k ⊙ e^{G-g})ᵀ v
// Every exponent is <= 0. A cannot be one product (q ⊙ e^g)(k ⊙ e^{-g})ᵀ (e^{-g} overflows), so the
// chunk is split into sub-chunks of S = 16 rows (fla's secondary chunking): the block of sub-chunk I
// against sub-chunk J < I is the product q̃_I k̃ᵀ with q̃_i = q_i ⊙ e^{g_i - g_b}, k̃_j = k_j ⊙ e^{g_b - g_j},
// b = 16 I (j < b <= i, both exponents <= 0); the diagonal 16 x 16 blocks are summed in float32 on
// CUDA cores. A is a sum over keys, so it is built one 64-key tile at a time. Kernels:
//   state_pass      one block per (head, 64 x 64 state tile) walks the chunks, tile in registers:
//                   forward x <- diag(e^G) x + (k ⊙ e^{G-g})ᵀ v saving the bf16 state entering each
//                   chunk; backward, from the last chunk, D <- diag(e^G) D + (q ⊙ e^g)ᵀ do saving the
//                   gradient of the state leaving each chunk (D after the walk is dh0).
//   output          one block per (chunk, head): o = (q ⊙ e^g) x_n + (A masked) v.
//   grads           one block per (chunk, head, 64-key tile), with dA = (do vᵀ masked to j <= i), x = x_n
//                   and D = D_n restricted to the tile's keys (rows), A_t this tile's part of A:
//     dq_ik = e^{g_ik} (do_i·x_k) + Σ_{j<=i} dA_ij k_jk e^{g_ik - g_jk}
//     dk_jk = e^{G_k - g_jk} (v_j·D_k) + Σ_{i>=j} dA_ij q_ik e^{g_ik - g_jk}
//     dv_t  = A_tᵀ do + (k ⊙ e^{G-g})_t D_t          (summed over the key tiles by the caller)
//     dg_ik = q_ik dq_ik - k_ik dk_ik, plus at i = C-1 (G_k = g_{C-1,k} also decays the state and
//             scales every k_jk of the state update) e^{G_k} <x_k, D_k> + Σ_j k_jk e^{G_k - g_jk} (v_j·D_k).
//   (Derivation: g_ik enters A_ij with + (query side), A_li with - (key side), e^{g_ik} of the inter
//   term with +, e^{G_k - g_ik} of the state update with -; q_ik dq_ik and k_ik dk_ik collect exactly
//   those terms. G_k as its own variable adds ∂/∂G above; its j = C-1 part cancels the - of the
//   state update at i = C-1, as it must: there G - g_{C-1} = 0.) The off-diagonal parts of dq and dk
//   are re-based products like A's: dq_I += e^{g_I - g_b} ⊙ (dA_{I,<I} k̃^{(I)}), b = 16 I, and
//   dk_J += e^{g_b - g_J} ⊙ (dA_{>J,J}ᵀ q̂^{(J)}), q̂_i = q_i ⊙ e^{g_i - g_b}, b = 16 (J + 1).
// Operands scaled per key before a product (q ⊙ e^g, k ⊙ e^{G-g}, q̃, k̃, q̂) are rounded to bf16, as
// fla does; scalings of products are applied in float32 through shared memory (a WMMA accumulator's
// element-to-row map is unspecified).
#include "ops/affine_scan/cuda/chunk_gate_tiles.cuh"
#include "ops/affine_scan/cuda/chunk_vector_gate_launch.h"

namespace scanlab::ops::cuda {
namespace {

using namespace chunk_gate_detail;

constexpr int S = 16;            // sub-chunk rows
constexpr int KT = 64;           // keys of a tile
constexpr int kLdh = ldh<KT>();  // row stride of a bf16 [*, 64] tile
constexpr int kLdf = ldf<KT>();  // row stride of a float32 [*, 64] tile (also of [C, C] float tiles)
static_assert(C == 4 * S && KT == C, "the kernels assume 4 sub-chunks of 16 rows and 64-wide tiles");

__device__ inline float bf(bf16 x) { return __bfloat162float(x); }

// The gate of one chunk for 64 keys (row r at src + r * stride, float32) into a [C, kLdf] tile.
__device__ void copy_gate(float* dst, const float* src, int stride) {
  for (int e = threadIdx.x; e < C * (KT / 4); e += blockDim.x) {
    const int r = e / (KT / 4), c = e % (KT / 4) * 4;
    copy16_async(dst + r * kLdf + c, src + static_cast<long long>(r) * stride + c, true);
  }
}

// dst [C, ldh<C>] bf16 = src [C, lds] float32 masked to j <= i.
__device__ void lower_to_bf16(bf16* dst, const float* src, int lds) {
  for (int e = threadIdx.x; e < C * C; e += blockDim.x) {
    const int i = e / C, j = e % C;
    dst[i * ldh<C>() + j] = __float2bfloat16(j <= i ? src[i * lds + j] : 0.f);
  }
}

// Rows of the re-based k̃ blocks: for sub-chunk I = 1, 2, 3 the rows j < 16 I of k ⊙ e^{g_{16I} - g_j}
// lie at rows 8 I (I - 1) .. of a [96, kLdh] tile (0, 16, 48).
__device__ constexpr int kt_row(int I) { return 8 * I * (I - 1); }
// Rows of the re-based q̂ blocks: for sub-chunk J = 0, 1, 2 the rows i >= b = 16 (J + 1) of
// q ⊙ e^{g_i - g_b} lie at rows qh_row(J) + i - b (0, 48, 80).
__device__ constexpr int qh_row(int J) { return J == 0 ? 0 : J == 1 ? 48 : 80; }
constexpr int kRebasedRows = 96;

// A += this key tile's part of the masked intra-chunk scores (float32 [C, kLdf]). sq, sk [C, kLdh]
// bf16 and sg [C, kLdf] float32 hold the tile; qt [C, kLdh] and kt [96, kLdh] are scratch (kt keeps
// the k̃ blocks on return, for dq). Blocks above the diagonal are left as they are. Contains
// __syncthreads; the caller syncs before reading A.
template <int NW>
__device__ void add_tile_scores(float* A, const bf16* sq, const bf16* sk, const float* sg, bf16* qt, bf16* kt) {
  // q̃ (row i re-based at its sub-chunk's first row) and the k̃ blocks.
  for (int e = threadIdx.x; e < C * KT; e += blockDim.x) {
    const int i = e / KT, c = e % KT, b = i / S * S;
    qt[i * kLdh + c] = __float2bfloat16(bf(sq[i * kLdh + c]) * __expf(sg[i * kLdf + c] - sg[b * kLdf + c]));
  }
  for (int e = threadIdx.x; e < kRebasedRows * KT; e += blockDim.x) {
    const int r = e / KT, c = e % KT;
    const int I = r < kt_row(2) ? 1 : r < kt_row(3) ? 2 : 3, j = r - kt_row(I);
    kt[r * kLdh + c] = __float2bfloat16(bf(sk[j * kLdh + c]) * __expf(sg[S * I * kLdf + c] - sg[j * kLdf + c]));
  }
  // The diagonal blocks, directly (while other threads still fill the scratch: they read only sq, sk, sg).
  for (int e = threadIdx.x; e < 4 * S * S; e += blockDim.x) {
    const int blk = e / (S * S) * S, i = blk + e % (S * S) / S, j = blk + e % S;
    if (j > i) continue;
    float s = 0.f;
#pragma unroll 8
    for (int c = 0; c < KT; ++c)
      s += bf(sq[i * kLdh + c]) * bf(sk[j * kLdh + c]) * __expf(sg[i * kLdf + c] - sg[j * kLdf + c]);
    A[i * kLdf + j] += s;
  }
  __syncthreads();
  // The six blocks below the diagonal (I, J), J < I, one WMMA fragment each: (1,0) (2,0) (2,1) (3,0) ...
  for (int job = static_cast<int>(threadIdx.x) / 32; job < 6; job += NW) {
    const int I = job < 1 ? 1 : job < 3 ? 2 : 3, J = job - I * (I - 1) / 2;
    Acc acc;
    wmma::load_matrix_sync(acc, A + S * I * kLdf + S * J, kLdf, wmma::mem_row_major);
#pragma unroll
    for (int kk = 0; kk < KT; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> a;
      wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> b;
      wmma::load_matrix_sync(a, qt + S * I * kLdh + kk, kLdh);
      wmma::load_matrix_sync(b, kt + (kt_row(I) + S * J) * kLdh + kk, kLdh);  // (r, c) = k̃_{16J+c, kk+r}
      wmma::mma_sync(acc, a, b, acc);
    }
    wmma::store_matrix_sync(A + S * I * kLdf + S * J, acc, kLdf, wmma::mem_row_major);
  }
}

// ---- the pass over chunk states ---------------------------------------------------------------

struct PassArgs {
  ChunkGateDims d;
  const bf16* a;  // [B, T, H, K]: k (forward) or q (backward)
  const bf16* b;  // [B, T, H, V]: v (forward) or do (backward)
  const float* g;
  const float* init;
  bf16* states;
  float* final_state;
  int reverse;
};

constexpr int kPassWarps = 4;

// Two buffers of the a and b tiles and of the gate tile (chunk n + 1 is copied while chunk n is
// multiplied), the float32 staging tile of the state and the per-key decay e^G.
constexpr size_t state_pass_smem() {
  return sizeof(bf16) * 4 * C * kLdh + sizeof(float) * (2 * C * kLdf + 64 * kLdf + 64);
}

__global__ void __launch_bounds__(kPassWarps * 32) state_pass_kernel(PassArgs p) {
#if __CUDA_ARCH__ >= 800
  constexpr int NW = kPassWarps;
  extern __shared__ __align__(128) unsigned char smem[];
  bf16* sa = reinterpret_cast<bf16*>(smem);                 // [2][C, 64]
  bf16* sb = sa + 2 * C * kLdh;                             // [2][C, 64]
  float* sg = reinterpret_cast<float*>(sb + 2 * C * kLdh);  // [2][C, 64]
  float* stage = sg + 2 * C * kLdf;                         // [64, 64]
  float* decay = stage + 64 * kLdf;                         // [64]
  const int H = p.d.heads, T = p.d.tokens, dk = p.d.dk, dv = p.d.dv, NC = p.d.chunks();
  const int bh = blockIdx.x, b = bh / H, h = bh % H;
  const int k0 = blockIdx.y * 64, v0 = blockIdx.z * 64;
  const long long kv = static_cast<long long>(dk) * dv;
  const long long tile = static_cast<long long>(k0) * dv + v0;
  auto chunk_of = [&](int i) { return p.reverse ? NC - 1 - i : i; };
  auto fetch = [&](int i, int buf) {  // chunk i of the walk into buffer buf
    const int n = chunk_of(i), t0 = n * C, valid = min(C, T - t0);
    const long long row0 = (static_cast<long long>(b) * T + t0) * H + h;
    copy_rows<64>(sa + buf * C * kLdh, p.a + row0 * dk + k0, static_cast<long long>(H) * dk, C, valid);
    copy_rows<64>(sb + buf * C * kLdh, p.b + row0 * dv + v0, static_cast<long long>(H) * dv, C, valid);
    copy_gate(sg + buf * C * kLdf, p.g + (static_cast<long long>(bh) * NC + n) * C * dk + k0, dk);
    commit_copies();
  };
  Frags<64, NW> x;
  if (p.init) {
    load<64, NW>(x, p.init + bh * kv + tile, dv);
  } else {
    zero<64, NW>(x);
  }
  fetch(0, 0);
  for (int i = 0; i < NC; ++i) {
    const int n = chunk_of(i), buf = i & 1;
    if (i + 1 < NC) fetch(i + 1, buf ^ 1);  // that buffer's readers finished before the last barrier
    // The state entering chunk n (forward) or the gradient of the one leaving it (backward).
    store<64, NW>(x, stage, kLdf);
    if (i + 1 < NC) {
      wait_copies<1>();
    } else {
      wait_copies<0>();
    }
    bf16* a = sa + buf * C * kLdh;
    const bf16* bt = sb + buf * C * kLdh;
    const float* g = sg + buf * C * kLdf;
    if (threadIdx.x < 64) decay[threadIdx.x] = __expf(g[(C - 1) * kLdf + threadIdx.x]);
    // Backward: q ⊙ e^g; forward: k ⊙ e^{G-g} (per token and key, rounded to bf16).
    for (int e = threadIdx.x; e < C * 32; e += blockDim.x) {
      const int r = e / 32, c = e % 32 * 2;
      const float g0 = g[r * kLdf + c], g1 = g[r * kLdf + c + 1];
      const float s0 = p.reverse ? __expf(g0) : __expf(g[(C - 1) * kLdf + c] - g0);
      const float s1 = p.reverse ? __expf(g1) : __expf(g[(C - 1) * kLdf + c + 1] - g1);
      __nv_bfloat162* y = reinterpret_cast<__nv_bfloat162*>(a + r * kLdh + c);
      const float2 f = __bfloat1622float2(*y);
      *y = __floats2bfloat162_rn(f.x * s0, f.y * s1);
    }
    __syncthreads();  // decay and the scaled a
    // Save the tile (bf16), then decay its rows (keys) by e^{G_k} for the update.
    bf16* saved = p.states + (static_cast<long long>(bh) * NC + n) * kv + tile;
    for (int e = threadIdx.x; e < 64 * 32; e += blockDim.x) {
      const int r = e / 32, c = e % 32 * 2;
      float* s = stage + r * kLdf + c;
      bf16* to = saved + static_cast<long long>(r) * dv + c;
      *reinterpret_cast<__nv_bfloat162*>(to) = __floats2bfloat162_rn(s[0], s[1]);
      s[0] *= decay[r];
      s[1] *= decay[r];
    }
    __syncthreads();
    load<64, NW>(x, stage, kLdf);
    mma<wmma::col_major, wmma::row_major, 64, C, NW>(x, a, kLdh, bt, kLdh);
    __syncthreads();  // this buffer, the stage and the decay are rewritten next
  }
  using Tile = Tiles<64, NW>;
#pragma unroll
  for (int f = 0; f < Tile::kFrags; ++f)
    wmma::store_matrix_sync(p.final_state + bh * kv + tile + Tile::row(f) * dv + Tile::col(f), x[f], dv,
                            wmma::mem_row_major);
#endif
}

cudaError_t launch_state_pass(const PassArgs& a, cudaStream_t stream) {
  const cudaError_t opt_in = allow_smem(state_pass_kernel, state_pass_smem());  // 87 KB > 48 KB
  if (opt_in != cudaSuccess) return opt_in;
  const dim3 grid(static_cast<unsigned>(a.d.batch * a.d.heads), a.d.dk / 64, a.d.dv / 64);
  state_pass_kernel<<<grid, kPassWarps * 32, state_pass_smem(), stream>>>(a);
  return cudaGetLastError();
}

// ---- forward outputs ----------------------------------------------------------------------------

constexpr int kOutWarps = 4;

// bf16: q, k, q̃ tiles [C, 64] and k̃ [96, 64] while the scores are built, then in their place the value
// tile [C, 64] and the state tile [DK, 64] (C + DK <= 3 C + 96 rows); A [C, C], q ⊙ e^g [C, DK];
// float32: the gate tile [C, 64] and the scores, later the output stage, [C, 64]. Every piece is a
// multiple of 32 bytes, so each starts 32-byte aligned (WMMA's requirement). 101 KB at K = 128, so
// two blocks share an SM.
constexpr int kScoreRows = 3 * C + kRebasedRows;  // rows of 64 bf16 of q, k, q̃ and k̃
template <int DK>
constexpr size_t output_smem() {
  static_assert(C + DK <= kScoreRows, "the value and state tiles fit where the scores' operands were");
  return sizeof(bf16) * (kScoreRows * kLdh + C * ldh<C>() + C * ldh<DK>()) + sizeof(float) * 2 * C * kLdf;
}

template <int DK, int DV>
__global__ void __launch_bounds__(kOutWarps * 32) output_kernel(VectorGateForwardParams p) {
#if __CUDA_ARCH__ >= 800
  constexpr int NW = kOutWarps;
  extern __shared__ __align__(128) unsigned char smem[];
  bf16* sq = reinterpret_cast<bf16*>(smem);
  bf16* sk = sq + C * kLdh;
  bf16* qt = sk + C * kLdh;
  bf16* kt = qt + C * kLdh;           // [96, 64]
  bf16* sv = sq;                      // [C, 64] after the scores
  bf16* sx = sv + C * kLdh;           // [DK, 64] tile of the entering state, after the scores
  bf16* sA = sq + kScoreRows * kLdh;  // [C, C]
  bf16* sqg = sA + C * ldh<C>();      // [C, DK] q ⊙ e^g
  float* sg = reinterpret_cast<float*>(sqg + C * ldh<DK>());
  float* stage = sg + C * kLdf;  // the scores, then the output tile
  const int H = p.d.heads, T = p.d.tokens, NC = p.d.chunks();
  const int bh = blockIdx.x / NC, n = blockIdx.x % NC, b = bh / H, h = bh % H;
  const int t0 = n * C, valid = min(C, T - t0);
  const long long row0 = (static_cast<long long>(b) * T + t0) * H + h;
  const long long qs = static_cast<long long>(H) * DK, vs = static_cast<long long>(H) * DV;
  const float* g = p.g + (static_cast<long long>(bh) * NC + n) * C * DK;
  const bf16* q = static_cast<const bf16*>(p.q) + row0 * DK;
  const bf16* k = static_cast<const bf16*>(p.k) + row0 * DK;
  for (int e = threadIdx.x; e < C * kLdf; e += blockDim.x) stage[e] = 0.f;
  for (int k0 = 0; k0 < DK; k0 += KT) {
    copy_rows<KT>(sq, q + k0, qs, C, valid);
    copy_rows<KT>(sk, k + k0, qs, C, valid);
    copy_gate(sg, g + k0, DK);
    commit_copies();
    wait_copies<0>();  // also orders the zeroed scores before their first update
    for (int e = threadIdx.x; e < C * KT; e += blockDim.x) {
      const int i = e / KT, c = e % KT;
      sqg[i * ldh<DK>() + k0 + c] = __float2bfloat16(bf(sq[i * kLdh + c]) * __expf(sg[i * kLdf + c]));
    }
    add_tile_scores<NW>(stage, sq, sk, sg, qt, kt);
    __syncthreads();  // the scores are complete for this tile; sq, sk, sg, qt, kt are rewritten next
  }
  lower_to_bf16(sA, stage, kLdf);
  __syncthreads();  // the stage is free, and so are q, k, q̃ and k̃ for the value and state tiles
  const bf16* states = static_cast<const bf16*>(p.states) + (static_cast<long long>(bh) * NC + n) * DK * DV;
  const bf16* v = static_cast<const bf16*>(p.v) + row0 * DV;
  bf16* o = static_cast<bf16*>(p.o) + row0 * DV;
  for (int v0 = 0; v0 < DV; v0 += 64) {
    copy_rows<64>(sv, v + v0, vs, C, valid);
    copy_rows<64>(sx, states + v0, DV, DK, DK);
    commit_copies();
    wait_copies<0>();
    Frags<64, NW> acc;
    zero<64, NW>(acc);
    mma<wmma::row_major, wmma::row_major, 64, DK, NW>(acc, sqg, ldh<DK>(), sx, kLdh);
    mma<wmma::row_major, wmma::row_major, 64, C, NW>(acc, sA, ldh<C>(), sv, kLdh);
    store<64, NW>(acc, stage, kLdf);
    __syncthreads();
    row_pass<64, NW>(stage, kLdf, nullptr, o + v0, vs, valid, nullptr, nullptr);
    __syncthreads();  // sv, sx and the stage are rewritten for the next value tile
  }
#endif
}

// ---- backward: input gradients --------------------------------------------------------------------

constexpr int kGradWarps = 8;

// bf16: q, k, (q̃, later k ⊙ e^{G-g}) tiles [C, 64], k̃ / q̂ [96, 64], A_t and dA [C, C], v and do
// [C, DV], x_t and D_t [64, DV]; float32: the gate tile and three [C, 64] stages, then 2 x 64 sums.
template <int DV>
constexpr size_t grads_smem() {
  return sizeof(bf16) * (3 * C * kLdh + kRebasedRows * kLdh + 2 * C * ldh<C>() + 4 * C * ldh<DV>()) +
         sizeof(float) * (4 * C * kLdf + 2 * 64);
}

template <int DK, int DV>
__global__ void __launch_bounds__(kGradWarps * 32) grads_kernel(VectorGateBackwardParams p) {
#if __CUDA_ARCH__ >= 800
  constexpr int NW = kGradWarps, NKT = DK / KT;
  extern __shared__ __align__(128) unsigned char smem[];
  bf16* sq = reinterpret_cast<bf16*>(smem);
  bf16* sk = sq + C * kLdh;
  bf16* qt = sk + C * kLdh;             // q̃, later k ⊙ e^{G-g}
  bf16* kt = qt + C * kLdh;             // [96, 64] k̃ blocks, later q̂ blocks
  bf16* sA = kt + kRebasedRows * kLdh;  // this tile's A, masked
  bf16* sdA = sA + C * ldh<C>();        // do vᵀ, masked
  bf16* sv = sdA + C * ldh<C>();
  bf16* sdo = sv + C * ldh<DV>();
  bf16* sx = sdo + C * ldh<DV>();  // [64 keys, DV] of the entering state
  bf16* sD = sx + C * ldh<DV>();   // [64 keys, DV] of the gradient of the leaving state
  float* sg = reinterpret_cast<float*>(sD + C * ldh<DV>());
  float* st1 = sg + C * kLdf;      // scores, then do x_tᵀ, then v D_tᵀ
  float* st2 = st1 + C * kLdf;     // do vᵀ, then the off-diagonal products, then dv tiles
  float* sdg = st2 + C * kLdf;     // q ⊙ dq - k ⊙ dk
  float* colsum = sdg + C * kLdf;  // Σ_j k_jk e^{G_k-g_jk} (v_j·D_k)
  float* xd = colsum + 64;         // <x_k, D_k>
  const int H = p.d.heads, T = p.d.tokens, NC = p.d.chunks();
  const int kt_i = blockIdx.x % NKT, chunk = blockIdx.x / NKT, n = chunk % NC, bh = chunk / NC;
  const int b = bh / H, h = bh % H, k0 = kt_i * KT;
  const int t0 = n * C, valid = min(C, T - t0);
  const long long row0 = (static_cast<long long>(b) * T + t0) * H + h;
  const long long qs = static_cast<long long>(H) * DK, vs = static_cast<long long>(H) * DV;
  const long long state = (static_cast<long long>(bh) * NC + n) * DK * DV + static_cast<long long>(k0) * DV;
  const long long gate = (static_cast<long long>(bh) * NC + n) * C * DK + k0;
  // Three groups in flight at once, each waited for where it is first needed.
  copy_rows<KT>(sq, static_cast<const bf16*>(p.q) + row0 * DK + k0, qs, C, valid);
  copy_rows<KT>(sk, static_cast<const bf16*>(p.k) + row0 * DK + k0, qs, C, valid);
  copy_gate(sg, p.g + gate, DK);
  commit_copies();
  copy_rows<DV>(sv, static_cast<const bf16*>(p.v) + row0 * DV, vs, C, valid);
  copy_rows<DV>(sdo, static_cast<const bf16*>(p.d_o) + row0 * DV, vs, C, valid);
  commit_copies();
  copy_rows<DV>(sx, static_cast<const bf16*>(p.states) + state, DV, KT, KT);
  copy_rows<DV>(sD, static_cast<const bf16*>(p.dstates) + state, DV, KT, KT);
  commit_copies();
  for (int e = threadIdx.x; e < C * kLdf; e += blockDim.x) st1[e] = 0.f;
  wait_copies<2>();  // q, k, g (and the zeroed scores)
  add_tile_scores<NW>(st1, sq, sk, sg, qt, kt);
  __syncthreads();
  lower_to_bf16(sA, st1, kLdf);
  wait_copies<1>();  // v and do
  {
    Frags<C, NW> s;
    zero<C, NW>(s);
    mma<wmma::row_major, wmma::col_major, C, DV, NW>(s, sdo, ldh<DV>(), sv, ldh<DV>());
    store<C, NW>(s, st2, kLdf);
  }
  __syncthreads();
  lower_to_bf16(sdA, st2, kLdf);
  wait_copies<0>();  // x_t and D_t; the barrier also orders dA and st2's reuse below
  // dq: st1 = do x_tᵀ; st2 rows of sub-chunk I >= 1 = dA_{I,<I} k̃^{(I)}.
  {
    Frags<64, NW> acc;
    zero<64, NW>(acc);
    mma<wmma::row_major, wmma::col_major, 64, DV, NW>(acc, sdo, ldh<DV>(), sx, ldh<DV>());
    store<64, NW>(acc, st1, kLdf);
  }
  for (int job = static_cast<int>(threadIdx.x) / 32; job < 12; job += NW) {
    const int I = job / 4 + 1, c = job % 4 * 16;
    Acc acc;
    wmma::fill_fragment(acc, 0.f);
    for (int J = 0; J < I; ++J) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> a;
      wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> bm;
      wmma::load_matrix_sync(a, sdA + S * I * ldh<C>() + S * J, ldh<C>());
      wmma::load_matrix_sync(bm, kt + (kt_row(I) + S * J) * kLdh + c, kLdh);
      wmma::mma_sync(acc, a, bm, acc);
    }
    wmma::store_matrix_sync(st2 + S * I * kLdf + c, acc, kLdf, wmma::mem_row_major);
  }
  __syncthreads();
  bf16* dq = static_cast<bf16*>(p.dq) + row0 * DK + k0;
  for (int e = threadIdx.x; e < C * KT; e += blockDim.x) {
    const int i = e / KT, c = e % KT, I = i / S;
    const float gi = sg[i * kLdf + c];
    float d = __expf(gi) * st1[i * kLdf + c];
    if (I > 0) d += __expf(gi - sg[S * I * kLdf + c]) * st2[i * kLdf + c];
    for (int j = S * I; j <= i; ++j)
      d += bf(sdA[i * ldh<C>() + j]) * bf(sk[j * kLdh + c]) * __expf(gi - sg[j * kLdf + c]);
    if (i < valid) dq[i * qs + c] = __float2bfloat16(d);
    sdg[i * kLdf + c] = bf(sq[i * kLdh + c]) * d;
  }
  // dk: st1 = v D_tᵀ; st2 rows of sub-chunk J <= 2 = dA_{>J,J}ᵀ q̂^{(J)}. q̂ replaces k̃ (read above,
  // before the last barrier).
  for (int e = threadIdx.x; e < kRebasedRows * KT; e += blockDim.x) {
    const int r = e / KT, c = e % KT;
    const int J = r < qh_row(1) ? 0 : r < qh_row(2) ? 1 : 2, bs = S * (J + 1), i = bs + r - qh_row(J);
    kt[r * kLdh + c] = __float2bfloat16(bf(sq[i * kLdh + c]) * __expf(sg[i * kLdf + c] - sg[bs * kLdf + c]));
  }
  __syncthreads();  // dq's readers of st1 and st2 are done; q̂ is filled
  {
    Frags<64, NW> acc;
    zero<64, NW>(acc);
    mma<wmma::row_major, wmma::col_major, 64, DV, NW>(acc, sv, ldh<DV>(), sD, ldh<DV>());
    store<64, NW>(acc, st1, kLdf);
  }
  for (int job = static_cast<int>(threadIdx.x) / 32; job < 12; job += NW) {
    const int J = job / 4, c = job % 4 * 16;
    Acc acc;
    wmma::fill_fragment(acc, 0.f);
    for (int I = J + 1; I < 4; ++I) {
      // dAᵀ block (r, c') = dA_{16I+c', 16J+r}: column-major from dA's row-major storage.
      wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::col_major> a;
      wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> bm;
      wmma::load_matrix_sync(a, sdA + S * I * ldh<C>() + S * J, ldh<C>());
      wmma::load_matrix_sync(bm, kt + (qh_row(J) + S * (I - J - 1)) * kLdh + c, kLdh);
      wmma::mma_sync(acc, a, bm, acc);
    }
    wmma::store_matrix_sync(st2 + S * J * kLdf + c, acc, kLdf, wmma::mem_row_major);
  }
  __syncthreads();
  bf16* dk = static_cast<bf16*>(p.dk) + row0 * DK + k0;
  for (int e = threadIdx.x; e < C * KT; e += blockDim.x) {
    const int j = e / KT, c = e % KT, J = j / S;
    const float gj = sg[j * kLdf + c];
    float d = __expf(sg[(C - 1) * kLdf + c] - gj) * st1[j * kLdf + c];
    if (J < 3) d += __expf(sg[S * (J + 1) * kLdf + c] - gj) * st2[j * kLdf + c];
    for (int i = j; i < S * (J + 1); ++i)
      d += bf(sdA[i * ldh<C>() + j]) * bf(sq[i * kLdh + c]) * __expf(sg[i * kLdf + c] - gj);
    if (j < valid) dk[j * qs + c] = __float2bfloat16(d);
    sdg[j * kLdf + c] -= bf(sk[j * kLdh + c]) * d;
  }
  // The last row's extra terms (from st1 = v D_tᵀ and the two states), and k ⊙ e^{G-g} for dv.
  if (threadIdx.x < 64) {
    const int c = threadIdx.x;
    const float G = sg[(C - 1) * kLdf + c];
    float s = 0.f;
    for (int j = 0; j < C; ++j) s += bf(sk[j * kLdh + c]) * __expf(G - sg[j * kLdf + c]) * st1[j * kLdf + c];
    colsum[c] = s;
  } else if (threadIdx.x < 128) {
    const int r = threadIdx.x - 64;
    float s = 0.f;
    for (int c = 0; c < DV; ++c) s += bf(sx[r * ldh<DV>() + c]) * bf(sD[r * ldh<DV>() + c]);
    xd[r] = s;
  }
  for (int e = threadIdx.x; e < C * KT; e += blockDim.x) {
    const int j = e / KT, c = e % KT;
    qt[j * kLdh + c] = __float2bfloat16(bf(sk[j * kLdh + c]) * __expf(sg[(C - 1) * kLdf + c] - sg[j * kLdf + c]));
  }
  __syncthreads();
  float* dg = p.dg + gate;
  for (int e = threadIdx.x; e < C * KT; e += blockDim.x) {
    const int i = e / KT, c = e % KT;
    float d = sdg[i * kLdf + c];
    if (i == C - 1) d += __expf(sg[(C - 1) * kLdf + c]) * xd[c] + colsum[c];
    dg[static_cast<long long>(i) * DK + c] = d;
  }
  // dv of this key tile: A_tᵀ do + (k ⊙ e^{G-g})_t D_t, float32 into dv_part[kt_i].
  float* dv = p.dv_part + static_cast<long long>(kt_i) * p.d.batch * T * H * DV + row0 * DV;
  for (int v0 = 0; v0 < DV; v0 += 64) {
    Frags<64, NW> acc;
    zero<64, NW>(acc);
    mma<wmma::col_major, wmma::row_major, 64, C, NW>(acc, sA, ldh<C>(), sdo + v0, ldh<DV>());
    mma<wmma::row_major, wmma::row_major, 64, KT, NW>(acc, qt, kLdh, sD + v0, ldh<DV>());
    store<64, NW>(acc, st2, kLdf);
    __syncthreads();
    for (int e = threadIdx.x; e < C * 64; e += blockDim.x) {
      const int j = e / 64, c = e % 64;
      if (j < valid) dv[j * vs + v0 + c] = st2[j * kLdf + c];
    }
    __syncthreads();  // st2 is rewritten for the next value tile
  }
#endif
}

// One block per (chunk, head) times `split` with `bytes` of dynamic shared memory.
template <typename Params>
cudaError_t launch_per_chunk(void (*kernel)(Params), size_t bytes, int threads, int split, const Params& p,
                             cudaStream_t stream) {
  const cudaError_t opt_in = allow_smem(kernel, bytes);  // every one of them is above 48 KB
  if (opt_in != cudaSuccess) return opt_in;
  // The largest shared-memory carveout, so that two output blocks (101 KB each at K = 128) share an SM.
  const cudaError_t carveout =
      cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout, cudaSharedmemCarveoutMaxShared);
  if (carveout != cudaSuccess) return carveout;
  const unsigned blocks = static_cast<unsigned>(static_cast<long long>(p.d.batch) * p.d.heads * p.d.chunks() * split);
  kernel<<<blocks, threads, bytes, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_chunk_vector_gate_forward(const VectorGateForwardParams& p, cudaStream_t stream) {
  if (!chunk_gate_supported(p.d.dk, p.d.dv) || !p.g) return cudaErrorInvalidValue;
  if (empty(p.d)) return cudaSuccess;
  const PassArgs pass{p.d,
                      static_cast<const bf16*>(p.k),
                      static_cast<const bf16*>(p.v),
                      p.g,
                      p.h0,
                      static_cast<bf16*>(p.states),
                      p.h_final,
                      0};
  cudaError_t err = launch_state_pass(pass, stream);
  if (err != cudaSuccess) return err;
  return by_dims(p.d, [&](auto dk, auto dv) {
    constexpr int DK = decltype(dk)::value, DV = decltype(dv)::value;
    return launch_per_chunk(output_kernel<DK, DV>, output_smem<DK>(), kOutWarps * 32, 1, p, stream);
  });
}

cudaError_t launch_chunk_vector_gate_backward(const VectorGateBackwardParams& p, cudaStream_t stream) {
  if (!chunk_gate_supported(p.d.dk, p.d.dv) || !p.g) return cudaErrorInvalidValue;
  if (empty(p.d)) return cudaSuccess;
  const PassArgs pass{p.d,
                      static_cast<const bf16*>(p.q),
                      static_cast<const bf16*>(p.d_o),
                      p.g,
                      p.dh_final,
                      static_cast<bf16*>(p.dstates),
                      p.dh0,
                      1};
  cudaError_t err = launch_state_pass(pass, stream);
  if (err != cudaSuccess) return err;
  return by_dims(p.d, [&](auto dk, auto dv) {
    constexpr int DK = decltype(dk)::value, DV = decltype(dv)::value;
    return launch_per_chunk(grads_kernel<DK, DV>, grads_smem<DV>(), kGradWarps * 32, DK / KT, p, stream);
  });
}

}  // namespace scanlab::ops::cuda
