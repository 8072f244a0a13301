// Fused chunked affine scan for identity and scalar gates (cuda/chunk_gate_launch.h), forward and
// backward, on tensor cores (WMMA 16x16x16 bf16 products with float32 accumulation, sm_80 and later).
// With the cumulative log gate g inside each chunk of C = 64 tokens and G = g_{C-1}:
//   o_i = e^{g_i} q_i·x_n + Σ_{j<=i} e^{g_i-g_j} (q_i·k_j) v_j,   x_{n+1} = e^G x_n + Σ_j e^{G-g_j} k_j v_jᵀ
// Every exponent is <= 0 (masked entries never reach exp). Two kernels a direction:
//   state_pass      (chunk_gate_state.cu) one block per (head, 64 x 64 tile of the [K, V] state) walks the chunks with
//   the
//                   tile in accumulator registers: forward x <- e^G x + kᵀ(v ⊙ e^{G-g}), saving the
//                   state entering each chunk (bf16); backward, from the last chunk, the gradient of
//                   the state leaving each chunk, D <- e^G D + (q ⊙ e^g)ᵀ do. With few tiles and many
//                   chunks it is split over the sequence (chunk_gate_launch.h says how): runs of chunks
//                   walked from zero in parallel, segment_combine over the runs, the runs walked again.
//   forward_output  one block per (chunk, head): o = e^g ⊙ (q x_n) + (q kᵀ ⊙ M) v, M_ij = [j<=i] e^{g_i-g_j}.
//   backward_grads  one block per (chunk, head), with dP = do vᵀ and D_n the saved gradient:
//                   dq = e^g ⊙ (do x_nᵀ) + (dP ⊙ M) k,  dk = e^{G-g} ⊙ (v D_nᵀ) + (dP ⊙ M)ᵀ q,
//                   dv = e^{G-g} ⊙ (k D_n) + (q kᵀ ⊙ M)ᵀ do,
//                   dL/dg_i = q_i·dq_i - k_i·dk_i, plus at i = C-1 (g_{C-1} = G also decays the
//                   state) e^G <D_n, x_n> + Σ_j k_j·(e^{G-g_j} D_n v_j).
// Row scalings are applied to the float32 products before they are summed (staged through shared
// memory, since a WMMA accumulator's element-to-row map is unspecified), except the scaled inputs of
// the state pass, which are rounded to bf16 as its products' operands (as fla does).
#include "ops/affine_scan/cuda/chunk_gate_tiles.cuh"

namespace scanlab::ops::cuda {
namespace {

using namespace chunk_gate_detail;

// ---- forward outputs ----------------------------------------------------------------------------

constexpr int kOutWarps = 4;

template <int DK>
constexpr size_t forward_output_smem() {
  return sizeof(bf16) * (2 * C * ldh<DK>() + C * ldh<64>() + DK * ldh<64>() + C * ldh<C>()) +
         sizeof(float) * (C * ldf<64>() + C);
}

template <int DK, int DV>
__global__ void __launch_bounds__(kOutWarps * 32) forward_output_kernel(ChunkGateForwardParams p) {
#if __CUDA_ARCH__ >= 800
  constexpr int NW = kOutWarps;
  extern __shared__ __align__(128) unsigned char smem[];
  bf16* sq = reinterpret_cast<bf16*>(smem);
  bf16* sk = sq + C * ldh<DK>();
  bf16* sv = sk + C * ldh<DK>();
  bf16* sx = sv + C * ldh<64>();  // [DK, 64] tile of the entering state
  bf16* sS = sx + DK * ldh<64>();
  float* stage = reinterpret_cast<float*>(sS + C * ldh<C>());
  float* sg = stage + C * ldf<64>();
  const int H = p.d.heads, T = p.d.tokens, NC = p.d.chunks();
  const int bh = blockIdx.x / NC, n = blockIdx.x % NC, b = bh / H, h = bh % H;
  const int t0 = n * C, valid = min(C, T - t0);
  const long long row0 = (static_cast<long long>(b) * T + t0) * H + h;
  const float* g = p.g ? p.g + (static_cast<long long>(bh) * NC + n) * C : nullptr;
  const bf16* states = static_cast<const bf16*>(p.states) + (static_cast<long long>(bh) * NC + n) * DK * DV;
  const bf16* v = static_cast<const bf16*>(p.v) + row0 * DV;
  if (threadIdx.x < C) sg[threadIdx.x] = g ? g[threadIdx.x] : 0.f;
  copy_rows<DK>(sq, static_cast<const bf16*>(p.q) + row0 * DK, static_cast<long long>(H) * DK, C, valid);
  copy_rows<DK>(sk, static_cast<const bf16*>(p.k) + row0 * DK, static_cast<long long>(H) * DK, C, valid);
  commit_copies();
  copy_rows<64>(sv, v, static_cast<long long>(H) * DV, C, valid);  // the first value tile, in flight
  copy_rows<64>(sx, states, DV, DK, DK);                           // while the scores are computed
  commit_copies();
  wait_copies<1>();
  {
    Frags<C, NW> s;
    zero<C, NW>(s);
    mma<wmma::row_major, wmma::col_major, C, DK, NW>(s, sq, ldh<DK>(), sk, ldh<DK>());
    store<C, NW>(s, stage, ldf<C>());
  }
  __syncthreads();
  decay_mask(sS, stage, ldf<C>(), sg);
  float* e_g = sg;  // reused below as e^{g_i}, after the mask has read g
  __syncthreads();
  if (threadIdx.x < C) e_g[threadIdx.x] = __expf(sg[threadIdx.x]);
  bf16* o = static_cast<bf16*>(p.o) + row0 * DV;
  for (int v0 = 0; v0 < DV; v0 += 64) {
    if (v0 > 0) {
      copy_rows<64>(sv, v + v0, static_cast<long long>(H) * DV, C, valid);
      copy_rows<64>(sx, states + v0, DV, DK, DK);
      commit_copies();
    }
    wait_copies<0>();
    Frags<64, NW> acc;
    zero<64, NW>(acc);
    mma<wmma::row_major, wmma::row_major, 64, DK, NW>(acc, sq, ldh<DK>(), sx, ldh<64>());
    if (g) scale_rows_of<64, NW>(acc, stage, ldf<64>(), e_g);
    mma<wmma::row_major, wmma::row_major, 64, C, NW>(acc, sS, ldh<C>(), sv, ldh<64>());
    store<64, NW>(acc, stage, ldf<64>());
    __syncthreads();
    row_pass<64, NW>(stage, ldf<64>(), nullptr, o + v0, static_cast<long long>(H) * DV, valid, nullptr, nullptr);
    __syncthreads();  // sv, sx and stage are rewritten for the next value tile
  }
#endif
}

// ---- backward: input gradients --------------------------------------------------------------------

constexpr int kGradWarps = 8;

template <int DK, int DV>
constexpr size_t backward_grads_smem() {
  constexpr int W = DK > DV ? DK : DV;
  return sizeof(bf16) * (2 * C * ldh<DK>() + 2 * C * ldh<DV>() + 2 * DK * ldh<DV>() + 2 * C * ldh<C>()) +
         sizeof(float) * (C * ldf<W>() + 5 * C + kGradWarps);
}

template <int DK, int DV>
__global__ void __launch_bounds__(kGradWarps * 32) backward_grads_kernel(ChunkGateBackwardParams p) {
#if __CUDA_ARCH__ >= 800
  constexpr int NW = kGradWarps;
  constexpr int W = DK > DV ? DK : DV;
  constexpr int lds = ldf<W>();
  extern __shared__ __align__(128) unsigned char smem[];
  bf16* sq = reinterpret_cast<bf16*>(smem);
  bf16* sk = sq + C * ldh<DK>();
  bf16* sv = sk + C * ldh<DK>();
  bf16* sdo = sv + C * ldh<DV>();
  bf16* sx = sdo + C * ldh<DV>();  // [DK, DV] state entering the chunk
  bf16* sD = sx + DK * ldh<DV>();  // [DK, DV] gradient of the state leaving it
  bf16* sS = sD + DK * ldh<DV>();  // (q kᵀ) ⊙ M
  bf16* sdP = sS + C * ldh<C>();   // (do vᵀ) ⊙ M
  float* stage = reinterpret_cast<float*>(sdP + C * ldh<C>());
  float* sg = stage + C * lds;
  float* e_g = sg + C;        // e^{g_i}
  float* e_rest = e_g + C;    // e^{G - g_i}
  float* dot_q = e_rest + C;  // q_i·dq_i
  float* dot_k = dot_q + C;   // k_i·dk_i, then minus the inter part of it
  float* red = dot_k + C;     // [NW]
  const int H = p.d.heads, T = p.d.tokens, NC = p.d.chunks();
  const int bh = blockIdx.x / NC, n = blockIdx.x % NC, b = bh / H, h = bh % H;
  const int t0 = n * C, valid = min(C, T - t0);
  const long long row0 = (static_cast<long long>(b) * T + t0) * H + h;
  const long long qs = static_cast<long long>(H) * DK, vs = static_cast<long long>(H) * DV;
  const long long state = (static_cast<long long>(bh) * NC + n) * DK * DV;
  const float* g = p.g ? p.g + (static_cast<long long>(bh) * NC + n) * C : nullptr;
  if (threadIdx.x < C) {
    const float gi = g ? g[threadIdx.x] : 0.f, G = g ? g[C - 1] : 0.f;
    sg[threadIdx.x] = gi;
    e_g[threadIdx.x] = __expf(gi);
    e_rest[threadIdx.x] = __expf(G - gi);
  }
  // Three groups in flight at once, each waited for where it is first needed.
  copy_rows<DK>(sq, static_cast<const bf16*>(p.q) + row0 * DK, qs, C, valid);
  copy_rows<DK>(sk, static_cast<const bf16*>(p.k) + row0 * DK, qs, C, valid);
  commit_copies();
  copy_rows<DV>(sv, static_cast<const bf16*>(p.v) + row0 * DV, vs, C, valid);
  copy_rows<DV>(sdo, static_cast<const bf16*>(p.d_o) + row0 * DV, vs, C, valid);
  commit_copies();
  copy_rows<DV>(sx, static_cast<const bf16*>(p.states) + state, DV, DK, DK);
  copy_rows<DV>(sD, static_cast<const bf16*>(p.dstates) + state, DV, DK, DK);
  commit_copies();
  wait_copies<2>();
  // The two masked [C, C] products.
  {
    Frags<C, NW> s;
    zero<C, NW>(s);
    mma<wmma::row_major, wmma::col_major, C, DK, NW>(s, sq, ldh<DK>(), sk, ldh<DK>());
    store<C, NW>(s, stage, lds);
  }
  __syncthreads();
  decay_mask(sS, stage, lds, sg);
  wait_copies<1>();  // v and do
  {
    Frags<C, NW> s;
    zero<C, NW>(s);
    mma<wmma::row_major, wmma::col_major, C, DV, NW>(s, sdo, ldh<DV>(), sv, ldh<DV>());
    store<C, NW>(s, stage, lds);
  }
  __syncthreads();
  decay_mask(sdP, stage, lds, sg);
  wait_copies<0>();  // the two states
  // dq = e^g ⊙ (do x_nᵀ) + (dP ⊙ M) k
  {
    Frags<DK, NW> acc;
    zero<DK, NW>(acc);
    mma<wmma::row_major, wmma::col_major, DK, DV, NW>(acc, sdo, ldh<DV>(), sx, ldh<DV>());
    if (g) scale_rows_of<DK, NW>(acc, stage, lds, e_g);
    mma<wmma::row_major, wmma::row_major, DK, C, NW>(acc, sdP, ldh<C>(), sk, ldh<DK>());
    store<DK, NW>(acc, stage, lds);
    __syncthreads();
    row_pass<DK, NW>(stage, lds, nullptr, static_cast<bf16*>(p.dq) + row0 * DK, qs, valid, g ? sq : nullptr, dot_q);
    __syncthreads();
  }
  // dk = e^{G-g} ⊙ (v D_nᵀ) + (dP ⊙ M)ᵀ q; the first term's k·dk goes to dL/dG.
  {
    Frags<DK, NW> acc;
    zero<DK, NW>(acc);
    mma<wmma::row_major, wmma::col_major, DK, DV, NW>(acc, sv, ldh<DV>(), sD, ldh<DV>());
    if (g) {
      scale_rows_of<DK, NW>(acc, stage, lds, e_rest, sk, dot_k);
      if (threadIdx.x < 32) {  // Σ_j of the inter parts, before dot_k is rewritten
        float s = dot_k[threadIdx.x] + dot_k[threadIdx.x + 32];
#pragma unroll
        for (int o = 16; o > 0; o /= 2) s += __shfl_xor_sync(0xffffffffu, s, o);
        if (threadIdx.x == 0) red[0] = s;
      }
      __syncthreads();
    }
    mma<wmma::col_major, wmma::row_major, DK, C, NW>(acc, sdP, ldh<C>(), sq, ldh<DK>());
    store<DK, NW>(acc, stage, lds);
    __syncthreads();
    row_pass<DK, NW>(stage, lds, nullptr, static_cast<bf16*>(p.dk) + row0 * DK, qs, valid, g ? sk : nullptr, dot_k);
    __syncthreads();
  }
  // dv = e^{G-g} ⊙ (k D_n) + (q kᵀ ⊙ M)ᵀ do
  {
    Frags<DV, NW> acc;
    zero<DV, NW>(acc);
    mma<wmma::row_major, wmma::row_major, DV, DK, NW>(acc, sk, ldh<DK>(), sD, ldh<DV>());
    if (g) scale_rows_of<DV, NW>(acc, stage, lds, e_rest);
    mma<wmma::col_major, wmma::row_major, DV, C, NW>(acc, sS, ldh<C>(), sdo, ldh<DV>());
    store<DV, NW>(acc, stage, lds);
    __syncthreads();
    row_pass<DV, NW>(stage, lds, nullptr, static_cast<bf16*>(p.dv) + row0 * DV, vs, valid, nullptr, nullptr);
  }
  if (!g) return;
  // dL/dg_i = q_i·dq_i - k_i·dk_i; g_{C-1} = G also scales the entering state and every k_j v_jᵀ.
  const float inter = red[0];
  float xd = 0.f;
  for (int e = threadIdx.x; e < DK * DV; e += blockDim.x) {
    const int r = e / DV, c = e % DV;
    xd += __bfloat162float(sx[r * ldh<DV>() + c]) * __bfloat162float(sD[r * ldh<DV>() + c]);
  }
#pragma unroll
  for (int o = 16; o > 0; o /= 2) xd += __shfl_xor_sync(0xffffffffu, xd, o);
  __syncthreads();  // every thread has read red[0]
  if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = xd;
  __syncthreads();
  if (threadIdx.x < C) {
    float d = dot_q[threadIdx.x] - dot_k[threadIdx.x];
    if (threadIdx.x == C - 1) {
      float total = 0.f;
      for (int w = 0; w < NW; ++w) total += red[w];
      d += __expf(sg[C - 1]) * total + inter;
    }
    p.dg[(static_cast<long long>(bh) * NC + n) * C + threadIdx.x] = d;
  }
#endif
}

// One block per (head, chunk) with `bytes` of dynamic shared memory: the output and gradient kernels.
template <typename Params>
cudaError_t launch_per_chunk(void (*kernel)(Params), size_t bytes, int threads, const Params& p, cudaStream_t stream) {
  const cudaError_t opt_in = allow_smem(kernel, bytes);
  if (opt_in != cudaSuccess) return opt_in;
  const unsigned blocks = static_cast<unsigned>(static_cast<long long>(p.d.batch) * p.d.heads * p.d.chunks());
  kernel<<<blocks, threads, bytes, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_chunk_gate_forward(const ChunkGateForwardParams& p, cudaStream_t stream) {
  if (!chunk_gate_supported(p.d.dk, p.d.dv)) return cudaErrorInvalidValue;
  if (empty(p.d)) return cudaSuccess;
  cudaError_t err = launch_state_pass(p.d, static_cast<const bf16*>(p.k), static_cast<const bf16*>(p.v), p.g, p.h0,
                                      static_cast<bf16*>(p.states), p.h_final, 0, p.segments, p.scratch, stream);
  if (err != cudaSuccess) return err;
  return by_dims(p.d, [&](auto dk, auto dv) {
    constexpr int DK = decltype(dk)::value, DV = decltype(dv)::value;
    return launch_per_chunk(forward_output_kernel<DK, DV>, forward_output_smem<DK>(), kOutWarps * 32, p, stream);
  });
}

cudaError_t launch_chunk_gate_backward(const ChunkGateBackwardParams& p, cudaStream_t stream) {
  if (!chunk_gate_supported(p.d.dk, p.d.dv)) return cudaErrorInvalidValue;
  if (empty(p.d)) return cudaSuccess;
  cudaError_t err =
      launch_state_pass(p.d, static_cast<const bf16*>(p.q), static_cast<const bf16*>(p.d_o), p.g, p.dh_final,
                        static_cast<bf16*>(p.dstates), p.dh0, 1, p.segments, p.scratch, stream);
  if (err != cudaSuccess) return err;
  return by_dims(p.d, [&](auto dk, auto dv) {
    constexpr int DK = decltype(dk)::value, DV = decltype(dv)::value;
    return launch_per_chunk(backward_grads_kernel<DK, DV>, backward_grads_smem<DK, DV>(), kGradWarps * 32, p, stream);
  });
}

}  // namespace scanlab::ops::cuda
