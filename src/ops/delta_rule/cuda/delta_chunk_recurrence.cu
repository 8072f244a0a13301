// The delta rule's inter-chunk recurrence (cuda/delta_chunk_recurrence_launch.h), both directions in
// one kernel: one block per (bh, tile of columns of V) walks the chunks with its state tile on chip, so
// the sequential part costs one launch instead of two small batched products per chunk.
// Per chunk, two dependent products:  W = X + sign_p · P s  ([64, K]·[K, VT]),  then
// s <- γ s + sign_q · Qᵀ W + R  ([K, 64]·[64, VT]).
// Two kernels (params.tf32):
// - float32 (default): plain FMA on CUDA cores, float32 state and accumulation, 16 columns a block;
//   each product is split into 4 (first) or 512 / K (second) slices of its reduction whose partial sums
//   are added in a fixed order, so results are the same run to run. The torch loop it replaces ran in
//   float32, and float32 inputs keep it. Tiles are double-buffered: the next chunk's P, Q, X and R are
//   copied with cp.async (sm_80) while the current chunk is multiplied.
// - TF32 tensor cores (WMMA m16n16k8, float32 accumulation), for the fused bf16 path
//   (delta_wy_*.cu): there the operands came from bf16 inputs, so TF32's 10-bit mantissa is finer than
//   what they carry. Profiled on an H100 (scripts/peers/profile_ops.py), the walk with 16 columns a
//   block was half of the fused forward and 8x fla's whole state pass: each block re-read P and Q for
//   every 16 columns, and the products kept half of its warps idle. This kernel takes 16, 32 or 64
//   columns (delta_chunk_recurrence_tc_tile_v says which, or that the float32 kernel is faster for
//   this shape: with too few blocks to fill the GPU it is), keeps each warp's tiles of the state in its accumulator
//   fragments from chunk to chunk (the γ scaling and R are applied to them in place, so there is no
//   separate update pass), and single-buffers its tiles in two staggered halves: P and X of the next
//   chunk load during the second product, Q and R during the first. The state is stored to shared
//   memory once a chunk, for the next first product and the states output.
// Tiles live in shared memory, rows padded to 64 (C <= 64) and keys to KM = 64 or 128 with zeros,
// which add nothing.
#include <mma.h>

#include "ops/delta_rule/cuda/delta_chunk_recurrence_launch.h"

namespace scanlab::ops::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int CM = kDeltaRecMaxChunk;  // rows of every chunk tile
constexpr int VT = kDeltaRecTileV;     // state columns of a block (float32 variant)
constexpr int kWarps = kThreads / 32;

// Row stride of the P and Q tiles: a multiple of 4 (float4 rows) that is 4 mod 32, so the 8 rows
// one float4 wavefront reads start in different banks.
template <int KM>
__host__ __device__ constexpr int ldp() {
  return KM + 4;
}

// The shared memory of the float32 walk, as float offsets (float4 aligned): P, Q, X and R
// double-buffered, the state tile, W of the current chunk and the partial sums of either product.
template <int KM>
struct Smem {
  static constexpr int kTile = CM * ldp<KM>();  // one P or Q tile [CM, KM]
  static constexpr int p = 0;                   // [2][CM, ldp]
  static constexpr int q = p + 2 * kTile;       // [2][CM, ldp]
  static constexpr int x = q + 2 * kTile;       // [2][CM, VT]
  static constexpr int r = x + 2 * CM * VT;     // [2][KM, VT]
  static constexpr int s = r + 2 * KM * VT;     // [KM, VT] the state tile
  static constexpr int w = s + KM * VT;         // [CM, VT] W of the current chunk
  // 4 slices x 4 rows x 64 float4 (first product), (512 / KM) slices x 8 x (KM / 2) float4 (second);
  // both at most 8192 floats.
  static constexpr int part = w + CM * VT;
  static constexpr int total = part + 8192;
};

// Row stride of the TF32 walk's [rows, VTT] tiles: 4 floats of padding put the rows a fragment load
// reads in different banks, and keep every 16-row and 8-row step 32-byte aligned (WMMA's rule).
template <int VTT>
__host__ __device__ constexpr int ldv() {
  return VTT + 4;
}

// The shared memory of the TF32 walk, as float offsets (multiples of 8: 32-byte aligned): one buffer
// per tile, refilled in two staggered halves (P and X; Q and R).
template <int KM, int VTT>
struct TcSmem {
  static constexpr int kTile = CM * ldp<KM>();
  static constexpr int p = 0;                    // [CM, ldp]
  static constexpr int q = p + kTile;            // [CM, ldp]
  static constexpr int x = q + kTile;            // [CM, ldv]
  static constexpr int r = x + CM * ldv<VTT>();  // [KM, ldv]
  static constexpr int s = r + KM * ldv<VTT>();  // [KM, ldv] the state, as of the last chunk's end
  static constexpr int w = s + KM * ldv<VTT>();  // [CM, ldv] sign_q · W of the current chunk
  static constexpr int total = w + CM * ldv<VTT>();
  static_assert(kTile % 8 == 0 && (CM * ldv<VTT>()) % 8 == 0 && (KM * ldv<VTT>()) % 8 == 0, "32-byte alignment");
};

__device__ inline void copy16_async(float* smem, const float* gmem, bool fill) {
#if __CUDA_ARCH__ >= 800
  const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(gmem), "r"(fill ? 16 : 0));
#endif
}

__device__ inline void commit_async() {
#if __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}

// Waits until at most N of this thread's committed copy groups are still in flight.
template <int N>
__device__ inline void wait_async() {
#if __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
#endif
}

// A [rows, 4 * vecs] tile (row r at src + r * stride) into shared memory of row stride lds;
// vectors past (valid_rows, valid_vecs) become zeros (src-size 0: nothing is read there).
__device__ void fetch_tile(float* dst, int lds, const float* src, long long stride, int rows, int vecs, int valid_rows,
                           int valid_vecs) {
  for (int e = threadIdx.x; e < rows * vecs; e += kThreads) {
    const int row = e / vecs, c = e % vecs;
    const bool fill = row < valid_rows && c < valid_vecs;
    copy16_async(dst + row * lds + 4 * c, fill ? src + row * stride + 4 * c : src, fill);
  }
}

__device__ inline void fma4(float* acc, float a, const float4& b) {
  acc[0] = fmaf(a, b.x, acc[0]);
  acc[1] = fmaf(a, b.y, acc[1]);
  acc[2] = fmaf(a, b.z, acc[2]);
  acc[3] = fmaf(a, b.w, acc[3]);
}

__device__ inline float4 add4(float4 a, const float4& b) {
  return make_float4(a.x + b.x, a.y + b.y, a.z + b.z, a.w + b.w);
}

__device__ inline float4 fma4v(float a, const float4& x, const float4& y) {  // a·x + y
  return make_float4(fmaf(a, x.x, y.x), fmaf(a, x.y, y.y), fmaf(a, x.z, y.z), fmaf(a, x.w, y.w));
}

// Where a block works: head bh, columns v0 .. v0 + cols of V (tiles of VTT); kv = K·V, one state.
struct WalkTile {
  long long bh, kv;
  int v0, cols;
  __device__ WalkTile(const DeltaChunkRecurrenceParams& p, int vtt) {
    const int tiles = (p.dv + vtt - 1) / vtt;
    bh = blockIdx.x / tiles;  // the V tiles of one head are neighbours: P, Q reads meet in L2
    v0 = static_cast<int>(blockIdx.x % tiles) * vtt;
    cols = min(vtt, p.dv - v0);  // a multiple of 4
    kv = static_cast<long long>(p.dk) * p.dv;
  }
};

__device__ inline int chunk_of(const DeltaChunkRecurrenceParams& p, int i) { return p.reverse ? p.chunks - 1 - i : i; }

// Where the state after chunk i of the walk goes: the next chunk's emitted state, or the final one.
__device__ inline float* state_after(const DeltaChunkRecurrenceParams& p, const WalkTile& at, int i) {
  return i + 1 < p.chunks ? p.states + (at.bh * p.chunks + chunk_of(p, i + 1)) * at.kv : p.final_state + at.bh * at.kv;
}

// The state entering the walk into shared memory (row stride lds, zero past K and past V); it is also
// the first chunk's emitted state.
template <int KM, int VTT>
__device__ void load_initial_state(const DeltaChunkRecurrenceParams& p, const WalkTile& at, float* s, int lds) {
  for (int e = threadIdx.x; e < KM * VTT / 4; e += kThreads) {
    const int k = e / (VTT / 4), c = e % (VTT / 4) * 4;
    const bool valid = k < p.dk && c < at.cols;
    float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
    if (valid && p.init)
      v = *reinterpret_cast<const float4*>(p.init + at.bh * at.kv + static_cast<long long>(k) * p.dv + at.v0 + c);
    *reinterpret_cast<float4*>(s + k * lds + c) = v;
    if (valid)
      *reinterpret_cast<float4*>(p.states + (at.bh * p.chunks + chunk_of(p, 0)) * at.kv +
                                 static_cast<long long>(k) * p.dv + at.v0 + c) = v;
  }
}

// Chunk n's tiles: P or Q ([C, K] into [CM, KM]), X ([C, V] columns of the block into [CM, VTT]) and
// R ([K, V] into [KM, VTT]); absent X or R are zero-filled (src-size 0 reads nothing, so P's pointer
// stands in as a valid address).
template <int KM>
__device__ void fetch_keys(const DeltaChunkRecurrenceParams& p, const DeltaRecOperand& o, const WalkTile& at,
                           long long n, float* dst) {
  fetch_tile(dst, ldp<KM>(), o.ptr + at.bh * o.bh_stride + n * o.chunk_stride, o.row_stride, CM, KM / 4, p.chunk_len,
             p.dk / 4);
}
template <int VTT>
__device__ void fetch_x(const DeltaChunkRecurrenceParams& p, const WalkTile& at, long long n, float* dst, int lds) {
  const float* x = p.x.ptr ? p.x.ptr + at.bh * p.x.bh_stride + n * p.x.chunk_stride + at.v0 : p.p.ptr;
  fetch_tile(dst, lds, x, p.x.row_stride, CM, VTT / 4, p.x.ptr ? p.chunk_len : 0, at.cols / 4);
}
template <int KM, int VTT>
__device__ void fetch_r(const DeltaChunkRecurrenceParams& p, const WalkTile& at, long long n, float* dst, int lds) {
  const float* r = p.r ? p.r + (at.bh * p.chunks + n) * at.kv + at.v0 : p.p.ptr;
  fetch_tile(dst, lds, r, p.dv, KM, VTT / 4, p.r ? p.dk : 0, at.cols / 4);
}

// First product, partial sums of P s ([CM, KM]·[KM, VT]): thread t takes reduction slice ks = t / 64
// (KM / 4 keys) and, inside it, rows rg + 16 i (i < 4, rg = t % 16) x columns 4 cg .. 4 cg + 3
// (cg = t / 16 % 4). A warp reads 16 rows of P (two wavefronts: rows are 4 banks apart) and two
// float4 of s (broadcast) per 4 keys, for 64 FMA a lane. Partials: part[(ks * 4 + i) * 64 + t % 64].
template <int KM>
__device__ void partial_ps(const float* P, const float* s, float4* part) {
  constexpr int KS = KM / 4;
  const int t = threadIdx.x, ks = t / 64, idx = t % 64, rg = idx % 16, cg = idx / 16;
  float acc[4][4] = {};
  const float* pr = P + rg * ldp<KM>() + ks * KS;
  const float* sc = s + ks * KS * VT + 4 * cg;
#pragma unroll 2
  for (int kk = 0; kk < KS; kk += 4) {
    float4 a[4], b[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) a[i] = *reinterpret_cast<const float4*>(pr + 16 * i * ldp<KM>() + kk);
#pragma unroll
    for (int j = 0; j < 4; ++j) b[j] = *reinterpret_cast<const float4*>(sc + (kk + j) * VT);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      fma4(acc[i], a[i].x, b[0]);
      fma4(acc[i], a[i].y, b[1]);
      fma4(acc[i], a[i].z, b[2]);
      fma4(acc[i], a[i].w, b[3]);
    }
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) part[(ks * 4 + i) * 64 + idx] = make_float4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]);
}

// Second product, partial sums of Qᵀ W ([KM, CM]·[CM, VT]): TPS = KM / 2 threads per reduction
// slice rs (CM / RS rows of the chunk, RS = 256 / TPS slices); inside it, keys 4 kg .. 4 kg + 3
// (kg = idx % (KM / 4)) x columns 8 cg .. 8 cg + 7 (cg = idx / (KM / 4)). A warp reads consecutive
// float4 of one Q row and two broadcast float4 of W per row, for 32 FMA a lane. Partials, float4 m
// (key 4 kg + m / 2, columns 8 cg + 4 (m % 2)): part[(rs * 8 + m) * TPS + idx].
template <int KM>
__device__ void partial_qw(const float* Q, const float* w, float4* part) {
  constexpr int TPS = KM / 2, RPS = CM * TPS / kThreads;
  const int t = threadIdx.x, rs = t / TPS, idx = t % TPS, kg = idx % (KM / 4), cg = idx / (KM / 4);
  float acc[4][8] = {};
  const float* qr = Q + rs * RPS * ldp<KM>() + 4 * kg;
  const float* wr = w + rs * RPS * VT + 8 * cg;
#pragma unroll 4
  for (int r = 0; r < RPS; ++r) {
    const float4 a = *reinterpret_cast<const float4*>(qr + r * ldp<KM>());
    const float4 b0 = *reinterpret_cast<const float4*>(wr + r * VT);
    const float4 b1 = *reinterpret_cast<const float4*>(wr + r * VT + 4);
    const float av[4] = {a.x, a.y, a.z, a.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      fma4(acc[i], av[i], b0);
      fma4(acc[i] + 4, av[i], b1);
    }
  }
#pragma unroll
  for (int m = 0; m < 8; ++m) {
    const float* a = acc[m / 2] + 4 * (m % 2);
    part[(rs * 8 + m) * TPS + idx] = make_float4(a[0], a[1], a[2], a[3]);
  }
}

// TF32 products on tensor cores (WMMA m16n16k8, float32 accumulation). Every operand is a float32
// tile in shared memory, rounded to TF32 as it is loaded into a fragment; pointers are 32-byte
// aligned and strides multiples of 4 (TcSmem, ldp, ldv). Results are the same run to run (fixed order).
namespace wmma = nvcuda::wmma;
using FragARow = wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major>;
using FragACol = wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::col_major>;
using FragB = wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major>;
using FragC = wmma::fragment<wmma::accumulator, 16, 16, 8, float>;

template <typename Frag>
__device__ inline void round_tf32(Frag& f) {
#if __CUDA_ARCH__ >= 800
#pragma unroll
  for (int i = 0; i < f.num_elements; ++i) f.x[i] = wmma::__float_to_tf32(f.x[i]);
#endif
}

// acc += A · b over a reduction of R, for one 16 x 16 output tile: A's 16 rows start at a (element
// (m, r) at a[m · am + r · ar]: row-major P is (ldp, 1), Qᵀ read from Q is (1, ldp); FragA's layout
// says which), b [R, 16] row-major with row stride ldb.
template <typename FragA, int R>
__device__ inline void tc_accumulate(FragC& acc, const float* a, int am, int ar, const float* b, int ldb) {
#if __CUDA_ARCH__ >= 800
  const int lda = am > ar ? am : ar;
#pragma unroll 4
  for (int k0 = 0; k0 < R; k0 += 8) {
    FragA fa;
    FragB fb;
    wmma::load_matrix_sync(fa, a + k0 * ar, lda);
    wmma::load_matrix_sync(fb, b + k0 * ldb, ldb);
    round_tf32(fa);
    round_tf32(fb);
    wmma::mma_sync(acc, fa, fb, acc);
  }
#endif
}

// ---- the float32 walk ---------------------------------------------------------------------------

// One block per (bh, VT columns of V).
template <int KM>
__global__ void __launch_bounds__(kThreads, 1) delta_chunk_recurrence_kernel(DeltaChunkRecurrenceParams p) {
#if __CUDA_ARCH__ >= 800
  using L = Smem<KM>;
  extern __shared__ __align__(128) float smem[];
  float* s = smem + L::s;
  float* ws = smem + L::w;
  float4* parts = reinterpret_cast<float4*>(smem + L::part);
  const int t = threadIdx.x;
  const int NC = p.chunks, C = p.chunk_len, dk = p.dk, dv = p.dv;
  const WalkTile at(p, VT);
  auto fetch = [&](int i, int buf) {
    const long long n = chunk_of(p, i);
    fetch_keys<KM>(p, p.p, at, n, smem + L::p + buf * L::kTile);
    fetch_keys<KM>(p, p.q, at, n, smem + L::q + buf * L::kTile);
    fetch_x<VT>(p, at, n, smem + L::x + buf * CM * VT, VT);
    fetch_r<KM, VT>(p, at, n, smem + L::r + buf * KM * VT, VT);
    commit_async();
  };
  load_initial_state<KM, VT>(p, at, s, VT);
  fetch(0, 0);
  for (int i = 0; i < NC; ++i) {
    const int n = chunk_of(p, i), buf = i & 1;
    // Buffer buf ^ 1 was last read before the closing barrier of the previous chunk.
    if (i + 1 < NC) {
      fetch(i + 1, buf ^ 1);
      wait_async<1>();  // chunk i's group has landed, chunk i + 1's may not
    } else {
      wait_async<0>();
    }
    __syncthreads();  // every thread's copies (and the state) visible to all
    const float gamma = __ldg(p.gamma + at.bh * NC + n);
    const float* xs = smem + L::x + buf * CM * VT;
    const float* rs = smem + L::r + buf * KM * VT;
    // 1. W = X + sign_p · P s: partials, then one float4 of W per thread (256 = 64 rows x 4).
    partial_ps<KM>(smem + L::p + buf * L::kTile, s, parts);
    __syncthreads();
    {
      const int sub = t / 64, idx = t % 64, row = idx % 16 + 16 * sub, col = idx / 16 * 4;
      float4 sum = parts[sub * 64 + idx];
#pragma unroll
      for (int ks = 1; ks < 4; ++ks) sum = add4(sum, parts[(ks * 4 + sub) * 64 + idx]);
      const float4 w = fma4v(p.sign_p, sum, *reinterpret_cast<const float4*>(xs + row * VT + col));
      *reinterpret_cast<float4*>(ws + row * VT + col) = w;
      if (row < C && col < at.cols)
        *reinterpret_cast<float4*>(p.w + ((at.bh * NC + n) * C + row) * dv + at.v0 + col) = w;
    }
    __syncthreads();  // W complete; the partials are free again
    // 2. s <- γ s + sign_q · Qᵀ W + R: partials, then KM * VT / 4 float4 of the state, each owned by
    // one thread (which alone reads and writes it here).
    float* out = state_after(p, at, i);
    partial_qw<KM>(smem + L::q + buf * L::kTile, ws, parts);
    __syncthreads();
    constexpr int TPS = KM / 2, RS = kThreads / TPS;
    for (int u = t; u < KM * VT / 4; u += kThreads) {
      const int m = u / TPS, idx = u % TPS;
      float4 sum = parts[m * TPS + idx];
#pragma unroll
      for (int r = 1; r < RS; ++r) sum = add4(sum, parts[(r * 8 + m) * TPS + idx]);
      const int k = 4 * (idx % (KM / 4)) + m / 2, c = 8 * (idx / (KM / 4)) + 4 * (m % 2);
      float4* sp = reinterpret_cast<float4*>(s + k * VT + c);
      const float4 v = fma4v(gamma, *sp, fma4v(p.sign_q, sum, *reinterpret_cast<const float4*>(rs + k * VT + c)));
      *sp = v;
      if (k < dk && c < at.cols) *reinterpret_cast<float4*>(out + static_cast<long long>(k) * dv + at.v0 + c) = v;
    }
    __syncthreads();  // the state is whole before the next chunk reads it; buf may be refilled
  }
#endif
}

// ---- the TF32 walk ------------------------------------------------------------------------------

// One block per (bh, VTT columns of V), VTT 16, 32 or 64. Warp w owns the state tiles w, w + 8, ...
// (16 x 16 each, row-major over [KM / 16, VTT / 16]) in accumulator fragments for the whole walk.
// Per chunk i, with the copies staggered so that every tile has one buffer:
//   wait for P_i, X_i;  W tiles = P_i s (fragments, into ws)
//   W = X_i + sign_p ws: written out, ws <- sign_q W;  wait for Q_i, R_i;  start P_{i+1}, X_{i+1}
//   owned tiles: acc <- γ acc + R_i + Qᵀ_i ws, stored to s;  start Q_{i+1}, R_{i+1};  s written out
template <int KM, int VTT>
__global__ void __launch_bounds__(kThreads, 1) delta_chunk_recurrence_tc_kernel(DeltaChunkRecurrenceParams p) {
#if __CUDA_ARCH__ >= 800
  using L = TcSmem<KM, VTT>;
  constexpr int LV = ldv<VTT>(), CT = VTT / 16, kStateTiles = (KM / 16) * CT;
  constexpr int kOwn = (kStateTiles + kWarps - 1) / kWarps;
  static_assert(VTT % 16 == 0, "whole 16 x 16 fragments");
  extern __shared__ __align__(128) float smem[];
  float* sp = smem + L::p;
  float* sq = smem + L::q;
  float* sx = smem + L::x;
  float* sr = smem + L::r;
  float* s = smem + L::s;
  float* ws = smem + L::w;
  const int t = threadIdx.x, warp = t / 32;
  const int NC = p.chunks, C = p.chunk_len, dv = p.dv;
  const WalkTile at(p, VTT);
  auto fetch_px = [&](int i) {
    const long long n = chunk_of(p, i);
    fetch_keys<KM>(p, p.p, at, n, sp);
    fetch_x<VTT>(p, at, n, sx, LV);
  };
  auto fetch_qr = [&](int i) {
    const long long n = chunk_of(p, i);
    fetch_keys<KM>(p, p.q, at, n, sq);
    if (p.r) fetch_r<KM, VTT>(p, at, n, sr, LV);
  };
  load_initial_state<KM, VTT>(p, at, s, LV);
  fetch_px(0);
  commit_async();
  fetch_qr(0);
  commit_async();
  __syncthreads();  // the initial state, for the fragments
  FragC acc[kOwn];
#pragma unroll
  for (int j = 0; j < kOwn; ++j) {
    const int tile = warp + kWarps * j;
    if (tile < kStateTiles)
      wmma::load_matrix_sync(acc[j], s + 16 * (tile / CT) * LV + 16 * (tile % CT), LV, wmma::mem_row_major);
  }
  for (int i = 0; i < NC; ++i) {
    const int n = chunk_of(p, i);
    wait_async<1>();  // P_i, X_i (Q_i, R_i may be in flight)
    __syncthreads();
    // 1. P s, one 16 x 16 tile of W per warp and turn.
    for (int tile = warp; tile < (CM / 16) * CT; tile += kWarps) {
      const int r = tile / CT, c = tile % CT;
      FragC w;
      wmma::fill_fragment(w, 0.f);
      tc_accumulate<FragARow, KM>(w, sp + 16 * r * ldp<KM>(), ldp<KM>(), 1, s + 16 * c, LV);
      wmma::store_matrix_sync(ws + 16 * r * LV + 16 * c, w, LV, wmma::mem_row_major);
    }
    __syncthreads();
    // 2. W = X + sign_p P s, written out; ws keeps sign_q W for the second product.
    for (int e = t; e < CM * VTT / 4; e += kThreads) {
      const int row = e / (VTT / 4), col = e % (VTT / 4) * 4;
      float4* wp = reinterpret_cast<float4*>(ws + row * LV + col);
      const float4 w = fma4v(p.sign_p, *wp, *reinterpret_cast<const float4*>(sx + row * LV + col));
      if (row < C && col < at.cols)
        *reinterpret_cast<float4*>(p.w + ((at.bh * NC + n) * C + row) * dv + at.v0 + col) = w;
      *wp = make_float4(p.sign_q * w.x, p.sign_q * w.y, p.sign_q * w.z, p.sign_q * w.w);
    }
    wait_async<0>();  // Q_i, R_i
    __syncthreads();  // ws and the copies visible to all; P and X free
    if (i + 1 < NC) fetch_px(i + 1);
    commit_async();
    // 3. The owned state tiles: γ s + R + Qᵀ (sign_q W), into s for the next chunk's first product.
    const float gamma = __ldg(p.gamma + at.bh * NC + n);
#pragma unroll
    for (int j = 0; j < kOwn; ++j) {
      const int tile = warp + kWarps * j;
      if (tile >= kStateTiles) continue;
      const int r = tile / CT, c = tile % CT;
#pragma unroll
      for (int e = 0; e < acc[j].num_elements; ++e) acc[j].x[e] *= gamma;
      if (p.r) {
        FragC rf;  // the same fragment type and layout: element e of both is the same (row, column)
        wmma::load_matrix_sync(rf, sr + 16 * r * LV + 16 * c, LV, wmma::mem_row_major);
#pragma unroll
        for (int e = 0; e < acc[j].num_elements; ++e) acc[j].x[e] += rf.x[e];
      }
      tc_accumulate<FragACol, CM>(acc[j], sq + 16 * r, 1, ldp<KM>(), ws + 16 * c, LV);
      wmma::store_matrix_sync(s + 16 * r * LV + 16 * c, acc[j], LV, wmma::mem_row_major);
    }
    __syncthreads();  // s whole; Q and R free
    if (i + 1 < NC) fetch_qr(i + 1);
    commit_async();
    float* out = state_after(p, at, i);
    for (int e = t; e < KM * VTT / 4; e += kThreads) {
      const int k = e / (VTT / 4), c = e % (VTT / 4) * 4;
      if (k < p.dk && c < at.cols)
        *reinterpret_cast<float4*>(out + static_cast<long long>(k) * dv + at.v0 + c) =
            *reinterpret_cast<const float4*>(s + k * LV + c);
    }
  }
#endif
}

template <typename Kernel>
cudaError_t launch_blocks(Kernel kernel, size_t floats, int vtt, const DeltaChunkRecurrenceParams& p,
                          cudaStream_t stream) {
  const size_t bytes = sizeof(float) * floats;
  // Above 48 KB a kernel must opt in to dynamic shared memory; the setting belongs to the current
  // device, so it is made at every launch (a host-side call of a few microseconds).
  const cudaError_t opt_in =
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
  if (opt_in != cudaSuccess) return opt_in;
  const long long blocks = p.batch_heads * ((p.dv + vtt - 1) / vtt);
  kernel<<<static_cast<unsigned>(blocks), kThreads, bytes, stream>>>(p);
  return cudaGetLastError();
}

template <int KM>
cudaError_t launch_float32_walk(const DeltaChunkRecurrenceParams& p, cudaStream_t stream) {
  return launch_blocks(delta_chunk_recurrence_kernel<KM>, Smem<KM>::total, VT, p, stream);
}

template <int KM>
cudaError_t launch_walk(const DeltaChunkRecurrenceParams& p, cudaStream_t stream) {
  if (!p.tf32) return launch_float32_walk<KM>(p, stream);
  int device = 0, smem = 0, sms = 0;
  cudaError_t err = cudaGetDevice(&device);
  if (err == cudaSuccess) err = cudaDeviceGetAttribute(&smem, cudaDevAttrMaxSharedMemoryPerBlockOptin, device);
  if (err == cudaSuccess) err = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  if (err != cudaSuccess) return err;
  const int vtt = delta_chunk_recurrence_tc_tile_v(p, sms, static_cast<size_t>(smem));
  if (vtt == 0) return launch_float32_walk<KM>(p, stream);
  if (vtt == 64) return launch_blocks(delta_chunk_recurrence_tc_kernel<KM, 64>, TcSmem<KM, 64>::total, 64, p, stream);
  if (vtt == 32) return launch_blocks(delta_chunk_recurrence_tc_kernel<KM, 32>, TcSmem<KM, 32>::total, 32, p, stream);
  return launch_blocks(delta_chunk_recurrence_tc_kernel<KM, 16>, TcSmem<KM, 16>::total, 16, p, stream);
}

}  // namespace

size_t delta_chunk_recurrence_smem_bytes(int dk) {
  // The float32 walk's: the TF32 walk at 16 columns needs less, and takes more columns only where the
  // device has room for them.
  static_assert(Smem<kDeltaRecMaxKey>::total >= TcSmem<kDeltaRecMaxKey, 16>::total, "");
  static_assert(Smem<64>::total >= TcSmem<64, 16>::total, "");
  return sizeof(float) * (dk <= 64 ? Smem<64>::total : Smem<kDeltaRecMaxKey>::total);
}

int delta_chunk_recurrence_tc_tile_v(const DeltaChunkRecurrenceParams& p, int sms, size_t smem_per_block) {
  if (p.tile_v == 16 || p.tile_v == 32 || p.tile_v == 64) return p.tile_v;
  // Measured on an H100 (132 SMs; docs/performance.md section 1f), fused forward at S1 against the
  // float32 walk: 64 columns were 15% faster with 128 blocks (B·H 64, V 128) and 1.6-1.8x slower
  // with 32 (B·H 16 or 32, V 128 or 64), where most SMs idle through a sequential walk; 16 and 32
  // columns were slower than the float32 walk wherever 64 lost. So: 64 columns where that gives at
  // least half the SMs a block (the line drawn between the two measured counts), else the float32
  // walk.
  const size_t need64 = sizeof(float) * (p.dk <= 64 ? TcSmem<64, 64>::total : TcSmem<kDeltaRecMaxKey, 64>::total);
  const long long blocks64 = p.batch_heads * ((p.dv + 63) / 64);
  return need64 <= smem_per_block && 2 * blocks64 >= sms ? 64 : 0;
}

cudaError_t launch_delta_chunk_recurrence(const DeltaChunkRecurrenceParams& p, cudaStream_t stream) {
  if (p.batch_heads <= 0 || p.chunks <= 0 || p.dv <= 0) return cudaSuccess;
  if (!delta_chunk_recurrence_dims_supported(p.dk, p.dv, p.chunk_len)) return cudaErrorInvalidValue;
  return p.dk <= 64 ? launch_walk<64>(p, stream) : launch_walk<kDeltaRecMaxKey>(p, stream);
}

}  // namespace scanlab::ops::cuda
