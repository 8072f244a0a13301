// Fused chunked affine scan for identity and scalar gates (cuda/chunk_gate_launch.h), forward and
// backward, on tensor cores (WMMA 16x16x16 bf16 products with float32 accumulation, sm_80 and later).
// With the cumulative log gate g inside each chunk of C = 64 tokens and G = g_{C-1}:
//   o_i = e^{g_i} q_i·x_n + Σ_{j<=i} e^{g_i-g_j} (q_i·k_j) v_j,   x_{n+1} = e^G x_n + Σ_j e^{G-g_j} k_j v_jᵀ
// Every exponent is <= 0 (masked entries never reach exp). Two kernels a direction:
//   state_pass      one block per (head, 64 x 64 tile of the [K, V] state) walks the chunks with the
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
#include <cuda_bf16.h>
#include <mma.h>

#include <type_traits>

#include "ops/affine_scan/cuda/chunk_gate_launch.h"

namespace scanlab::ops::cuda {
namespace {

using namespace nvcuda;
using bf16 = __nv_bfloat16;
using Acc = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;

constexpr int C = kGateChunk;
// Row paddings of shared tiles: rows stay 16-byte aligned (WMMA and vector loads need it) and
// consecutive rows start in different banks.
template <int W>
__host__ __device__ constexpr int ldh() { return W + 8; }  // bf16 tiles
template <int W>
__host__ __device__ constexpr int ldf() { return W + 4; }  // float32 staging

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
  for (int f = 0; f < T::kFrags; ++f) wmma::store_matrix_sync(s + T::row(f) * lds + T::col(f), acc[f], lds, wmma::mem_row_major);
}

template <int N, int NW>
__device__ void load(Frags<N, NW>& acc, const float* s, int lds) {
  using T = Tiles<N, NW>;
#pragma unroll
  for (int f = 0; f < T::kFrags; ++f) wmma::load_matrix_sync(acc[f], s + T::row(f) * lds + T::col(f), lds, wmma::mem_row_major);
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
__device__ void copy_floats(float* dst, const float* src, int n) {
  for (int e = threadIdx.x * 4; e < n; e += blockDim.x * 4) copy16_async(dst + e, src + e, true);
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
__device__ void decay_mask(bf16* dst, const float* stage, int lds, const float* g) {
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
__device__ void scale_rows_of(Frags<N, NW>& acc, float* stage, int lds, const float* row_scale,
                              const bf16* x = nullptr, float* dot = nullptr) {
  store<N, NW>(acc, stage, lds);
  __syncthreads();
  row_pass<N, NW>(stage, lds, row_scale, nullptr, 0, 0, x, dot);
  __syncthreads();
  load<N, NW>(acc, stage, lds);
  __syncthreads();
}

// ---- the pass over chunk states ---------------------------------------------------------------

// One walk over a run of chunks per (head, segment, state tile): blockIdx.x = bh · segments + s walks
// chunks [s · seg_chunks, min(NC, (s + 1) · seg_chunks)), in reverse for the backward. Unsplit,
// segments = 1 and seg_chunks = NC. Arrays indexed by (head, segment) are [B·H, segments, ...], so with
// one segment they are the plain [B·H, ...] ones.
struct PassArgs {
  ChunkGateDims d;
  const bf16* a;  // [B, T, H, K]: k (forward) or q (backward)
  const bf16* b;  // [B, T, H, V]: v (forward) or do (backward)
  const float* g;
  const float* init;   // [B·H, segments, K, V] state the walk starts from; null: zeros
  bf16* states;        // [B, H, NC, K, V]: the state entering (gradient leaving) each chunk; null: not saved
  float* final_state;  // [B·H, segments, K, V] state after the walk; null: not written
  float* decay;        // [B·H, segments] Σ of the walked chunks' G (log decay of the run); null: not written
  int reverse;
  int segments, seg_chunks;
};

constexpr int kPassWarps = 4;

// Shared memory of the state pass: two buffers of the a and b tiles and of g (chunk n + 1 is copied
// while chunk n is multiplied), the float32 staging tile and the row scales.
constexpr size_t state_pass_smem() {
  return sizeof(bf16) * 4 * C * ldh<64>() + sizeof(float) * (64 * ldf<64>() + 2 * C + 2 * C + 4);
}

__global__ void __launch_bounds__(kPassWarps * 32) state_pass_kernel(PassArgs p) {
#if __CUDA_ARCH__ >= 800
  constexpr int NW = kPassWarps;
  extern __shared__ __align__(128) unsigned char smem[];
  bf16* sa = reinterpret_cast<bf16*>(smem);  // [2][C, 64]
  bf16* sb = sa + 2 * C * ldh<64>();         // [2][C, 64]
  float* stage = reinterpret_cast<float*>(sb + 2 * C * ldh<64>());
  float* sg = stage + 64 * ldf<64>();  // [2][C]
  float* scale_a = sg + 2 * C;
  float* scale_b = scale_a + C;
  float* decay = scale_b + C;
  const int H = p.d.heads, T = p.d.tokens, dk = p.d.dk, dv = p.d.dv, NC = p.d.chunks();
  const int bh = blockIdx.x / p.segments, seg = blockIdx.x % p.segments, b = bh / H, h = bh % H;
  // The launcher makes every run non-empty (chunk_gate_normalize_segments): first < NC.
  const int first = seg * p.seg_chunks, count = min(p.seg_chunks, NC - first);
  const int k0 = blockIdx.y * 64, v0 = blockIdx.z * 64;
  const long long kv = static_cast<long long>(dk) * dv;
  const long long tile = static_cast<long long>(k0) * dv + v0;
  const long long run = static_cast<long long>(blockIdx.x) * kv + tile;  // this walk's [K, V] tile in init / final
  auto chunk_of = [&](int i) { return p.reverse ? first + count - 1 - i : first + i; };
  auto fetch = [&](int i, int buf) {  // chunk i of the walk into buffer buf
    const int n = chunk_of(i), t0 = n * C, valid = min(C, T - t0);
    const long long row0 = (static_cast<long long>(b) * T + t0) * H + h;
    copy_rows<64>(sa + buf * C * ldh<64>(), p.a + row0 * dk + k0, static_cast<long long>(H) * dk, C, valid);
    copy_rows<64>(sb + buf * C * ldh<64>(), p.b + row0 * dv + v0, static_cast<long long>(H) * dv, C, valid);
    if (p.g) copy_floats(sg + buf * C, p.g + (static_cast<long long>(bh) * NC + n) * C, C);
    commit_copies();
  };
  Frags<64, NW> x;
  if (p.init) {
    load<64, NW>(x, p.init + run, dv);
  } else {
    zero<64, NW>(x);
  }
  float run_decay = 0.f;  // thread 0's sum of the walked chunks' G
  fetch(0, 0);
  for (int i = 0; i < count; ++i) {
    const int n = chunk_of(i), buf = i & 1;
    if (i + 1 < count) fetch(i + 1, buf ^ 1);  // that buffer's readers finished before the last barrier
    // The state entering chunk n (forward) or the gradient of the one leaving it (backward).
    if (p.states) store<64, NW>(x, stage, ldf<64>());
    if (i + 1 < count) {
      wait_copies<1>();
    } else {
      wait_copies<0>();
    }
    bf16* a = sa + buf * C * ldh<64>();
    bf16* bt = sb + buf * C * ldh<64>();
    if (p.g) {
      if (threadIdx.x < C) {
        const float* g = sg + buf * C;
        scale_a[threadIdx.x] = __expf(g[threadIdx.x]);
        scale_b[threadIdx.x] = __expf(g[C - 1] - g[threadIdx.x]);
        if (threadIdx.x == 0) {
          decay[0] = __expf(g[C - 1]);
          run_decay += g[C - 1];
        }
      }
      __syncthreads();
      // Backward: q ⊙ e^g; forward: v ⊙ e^{G-g}.
      if (p.reverse) {
        scale_rows<64>(a, C, scale_a);
      } else {
        scale_rows<64>(bt, C, scale_b);
      }
    }
    if (p.states)
      row_pass<64, NW>(stage, ldf<64>(), nullptr, p.states + (static_cast<long long>(bh) * NC + n) * kv + tile, dv, 64,
                       nullptr, nullptr);
    __syncthreads();
    if (p.g) scale<64, NW>(x, decay[0]);
    mma<wmma::col_major, wmma::row_major, 64, C, NW>(x, a, ldh<64>(), bt, ldh<64>());
    __syncthreads();  // this buffer, the stage and the scales are rewritten next
  }
  // Every state tile of a run walks the same chunks: the first one reports the run's decay.
  if (p.decay && threadIdx.x == 0 && blockIdx.y == 0 && blockIdx.z == 0) p.decay[blockIdx.x] = run_decay;
  if (!p.final_state) return;
  using Tile = Tiles<64, NW>;
#pragma unroll
  for (int f = 0; f < Tile::kFrags; ++f)
    wmma::store_matrix_sync(p.final_state + run + Tile::row(f) * dv + Tile::col(f), x[f], dv, wmma::mem_row_major);
#endif
}

// The short pass over segments of a split state pass: one thread per element of a head's [K, V]
// state walks the runs in the pass's order (backward: from the last), E <- init, then per run s:
// the run's entering state is E, and E <- e^{decay_s} E + F_s, where F_s is the state its zero-start
// walk left (read from `seg` and overwritten there by E, so the second walk starts from it). E after
// the last run is the final state (h_final, or dh0 backward). decay_s <= 0: every factor is <= 1.
struct CombineArgs {
  int heads_total, segments;  // B·H
  long long kv;               // K·V
  const float* init;          // [B·H, K, V]; null: zeros
  float* seg;                 // [B·H, segments, K, V]
  const float* decay;         // [B·H, segments]; null: the identity gate (no decay)
  float* final_state;         // [B·H, K, V]
  int reverse;
};

constexpr int kCombineThreads = 256;

__global__ void __launch_bounds__(kCombineThreads) segment_combine_kernel(CombineArgs p) {
  const long long e = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= p.heads_total * p.kv) return;
  const long long bh = e / p.kv, at = e % p.kv;
  float E = p.init ? p.init[e] : 0.f;
  for (int j = 0; j < p.segments; ++j) {
    const int s = p.reverse ? p.segments - 1 - j : j;
    float* f = p.seg + (bh * p.segments + s) * p.kv + at;
    const float F = *f;
    *f = E;
    E = (p.decay ? expf(p.decay[bh * p.segments + s]) : 1.f) * E + F;
  }
  p.final_state[e] = E;
}

template <typename Kernel>
cudaError_t allow_smem(Kernel kernel, size_t bytes) {
  // Above 48 KB a kernel must opt in to dynamic shared memory. The setting belongs to the current
  // device, so it is made at every launch (a host-side call of a few microseconds).
  return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
}

cudaError_t launch_walks(const PassArgs& a, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(a.d.batch * a.d.heads * a.segments), a.d.dk / 64, a.d.dv / 64);
  state_pass_kernel<<<grid, kPassWarps * 32, state_pass_smem(), stream>>>(a);
  return cudaGetLastError();
}

// The pass over chunk states, from `init` (null: zeros) saving every chunk's state and writing the
// final one; split into `segments` runs (scratch: chunk_gate_scratch_floats) when segments > 1.
cudaError_t launch_state_pass(const ChunkGateDims& d, const bf16* a, const bf16* b, const float* g, const float* init,
                              bf16* states, float* final_state, int reverse, int segments, float* scratch,
                              cudaStream_t stream) {
  const cudaError_t opt_in = allow_smem(state_pass_kernel, state_pass_smem());
  if (opt_in != cudaSuccess) return opt_in;
  const int NC = d.chunks();
  // The same normalisation the caller's scratch size was computed from, or a smaller count.
  const int S = chunk_gate_normalize_segments(NC, segments);
  if (S == 1) return launch_walks({d, a, b, g, init, states, final_state, nullptr, reverse, 1, NC}, stream);
  if (!scratch) return cudaErrorInvalidValue;
  const int per = (NC + S - 1) / S;
  const long long kv = static_cast<long long>(d.dk) * d.dv;
  float* seg = scratch;                                           // [B·H, S, K, V]
  float* decay = g ? scratch + static_cast<long long>(d.batch) * d.heads * S * kv : nullptr;  // [B·H, S]
  // 1. every run from zero: the state leaving it and its decay; nothing saved.
  cudaError_t err = launch_walks({d, a, b, g, nullptr, nullptr, seg, decay, reverse, S, per}, stream);
  if (err != cudaSuccess) return err;
  // 2. the entering state of every run, and the final state.
  const CombineArgs c{d.batch * d.heads, S, kv, init, seg, decay, final_state, reverse};
  const long long threads = static_cast<long long>(c.heads_total) * kv;
  segment_combine_kernel<<<static_cast<unsigned>((threads + kCombineThreads - 1) / kCombineThreads), kCombineThreads,
                           0, stream>>>(c);
  err = cudaGetLastError();
  if (err != cudaSuccess) return err;
  // 3. every run again from its entering state, saving the chunk states.
  return launch_walks({d, a, b, g, seg, states, nullptr, nullptr, reverse, S, per}, stream);
}

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

// Calls f(integral_constant<DK>, integral_constant<DV>) for the supported (K, V).
template <typename F>
cudaError_t by_dims(const ChunkGateDims& d, F&& f) {
  if (d.dk == 64 && d.dv == 64) return f(std::integral_constant<int, 64>{}, std::integral_constant<int, 64>{});
  if (d.dk == 64 && d.dv == 128) return f(std::integral_constant<int, 64>{}, std::integral_constant<int, 128>{});
  if (d.dk == 128 && d.dv == 64) return f(std::integral_constant<int, 128>{}, std::integral_constant<int, 64>{});
  if (d.dk == 128 && d.dv == 128) return f(std::integral_constant<int, 128>{}, std::integral_constant<int, 128>{});
  return cudaErrorInvalidValue;
}

bool empty(const ChunkGateDims& d) { return d.batch <= 0 || d.heads <= 0 || d.tokens <= 0; }

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
  cudaError_t err = launch_state_pass(p.d, static_cast<const bf16*>(p.q), static_cast<const bf16*>(p.d_o), p.g,
                                      p.dh_final, static_cast<bf16*>(p.dstates), p.dh0, 1, p.segments, p.scratch, stream);
  if (err != cudaSuccess) return err;
  return by_dims(p.d, [&](auto dk, auto dv) {
    constexpr int DK = decltype(dk)::value, DV = decltype(dv)::value;
    return launch_per_chunk(backward_grads_kernel<DK, DV>, backward_grads_smem<DK, DV>(), kGradWarps * 32, p, stream);
  });
}

}  // namespace scanlab::ops::cuda
