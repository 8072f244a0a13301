// The delta rule's inter-chunk recurrence (cuda/delta_chunk_recurrence_launch.h), both directions in
// one kernel: one block per (bh, 16-column tile of V) walks the chunks with its [K, 16] state tile on
// chip, so the sequential part costs one launch instead of two small batched products per chunk.
// Per chunk, two dependent products:  W = X + sign_p · P s  ([64, K]·[K, 16]),  then
// s <- γ s + sign_q · Qᵀ W + R  ([K, 64]·[64, 16]).
// Precision: plain float32 FMA on CUDA cores, float32 state and accumulation (no TF32: the state goes
// through every chunk, and the torch loop it replaces ran in float32). Each product is split into 4
// (first) or 512 / K (second) slices of its reduction whose partial sums are added in a fixed
// order, so results are the same run to run.
// Tiles live in shared memory, rows padded to 64 (C <= 64) and keys to KM = 64 or 128 with zeros,
// which add nothing; the next chunk's P, Q, X and R tiles are copied with cp.async (sm_80) while the
// current chunk is multiplied (two buffers each).
#include "ops/delta_rule/cuda/delta_chunk_recurrence_launch.h"

namespace scanlab::ops::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int CM = kDeltaRecMaxChunk;  // rows of every chunk tile
constexpr int VT = kDeltaRecTileV;     // state columns of a block

// Row stride of the P and Q tiles: a multiple of 4 (float4 rows) that is 4 mod 32, so the 8 rows
// one float4 wavefront reads start in different banks.
template <int KM>
__host__ __device__ constexpr int ldp() {
  return KM + 4;
}

// The shared memory of the walk, as float offsets (all multiples of 4: float4 aligned).
template <int KM>
struct Smem {
  static constexpr int kTile = CM * ldp<KM>();  // one P or Q tile [CM, KM]
  static constexpr int p = 0;                   // [2][CM, ldp]
  static constexpr int q = p + 2 * kTile;       // [2][CM, ldp]
  static constexpr int x = q + 2 * kTile;       // [2][CM, VT]
  static constexpr int r = x + 2 * CM * VT;     // [2][KM, VT]
  static constexpr int s = r + 2 * KM * VT;     // [KM, VT] the state tile
  static constexpr int w = s + KM * VT;         // [CM, VT] W of the current chunk
  // Partial sums of either product: 4 slices x 4 rows x 64 float4 (first), (512 / KM) slices x 8 x
  // (KM / 2) float4 (second); both at most 8192 floats.
  static constexpr int part = w + CM * VT;
  static constexpr int total = part + 8192;
};

__device__ inline void copy16_async(float* smem, const float* gmem, bool fill) {
#if __CUDA_ARCH__ >= 800
  const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(gmem), "r"(fill ? 16 : 0));
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

template <int KM>
__global__ void __launch_bounds__(kThreads, 1) delta_chunk_recurrence_kernel(DeltaChunkRecurrenceParams p) {
#if __CUDA_ARCH__ >= 800
  using L = Smem<KM>;
  extern __shared__ __align__(16) float smem[];
  float* s = smem + L::s;
  float* ws = smem + L::w;
  float4* part = reinterpret_cast<float4*>(smem + L::part);
  const int t = threadIdx.x;
  const int NC = p.chunks, C = p.chunk_len, dk = p.dk, dv = p.dv;
  const int tiles = (dv + VT - 1) / VT;
  const long long bh = blockIdx.x / tiles;  // the V tiles of one head are neighbours: P, Q reads meet in L2
  const int v0 = static_cast<int>(blockIdx.x % tiles) * VT;
  const int cols = min(VT, dv - v0);  // valid columns of this tile, a multiple of 4
  const long long kv = static_cast<long long>(dk) * dv;
  auto chunk_of = [&](int i) { return p.reverse ? NC - 1 - i : i; };
  // Chunk i of the walk into buffer buf; absent X or R are zero-filled (src-size 0 reads nothing, so
  // P's pointer stands in as a valid address).
  auto fetch = [&](int i, int buf) {
    const long long n = chunk_of(i);
    fetch_tile(smem + L::p + buf * L::kTile, ldp<KM>(), p.p.ptr + bh * p.p.bh_stride + n * p.p.chunk_stride,
               p.p.row_stride, CM, KM / 4, C, dk / 4);
    fetch_tile(smem + L::q + buf * L::kTile, ldp<KM>(), p.q.ptr + bh * p.q.bh_stride + n * p.q.chunk_stride,
               p.q.row_stride, CM, KM / 4, C, dk / 4);
    const float* x = p.x.ptr ? p.x.ptr + bh * p.x.bh_stride + n * p.x.chunk_stride + v0 : p.p.ptr;
    fetch_tile(smem + L::x + buf * CM * VT, VT, x, p.x.row_stride, CM, VT / 4, p.x.ptr ? C : 0, cols / 4);
    const float* r = p.r ? p.r + (bh * NC + n) * kv + v0 : p.p.ptr;
    fetch_tile(smem + L::r + buf * KM * VT, VT, r, dv, KM, VT / 4, p.r ? dk : 0, cols / 4);
    asm volatile("cp.async.commit_group;\n" ::);
  };
  // The state entering the walk, zero past K and past V; it is also the first chunk's emitted state.
  for (int e = t; e < KM * VT / 4; e += kThreads) {
    const int k = e / (VT / 4), c = e % (VT / 4) * 4;
    const bool valid = k < dk && c < cols;
    float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
    if (valid && p.init)
      v = *reinterpret_cast<const float4*>(p.init + bh * kv + static_cast<long long>(k) * dv + v0 + c);
    *reinterpret_cast<float4*>(s + k * VT + c) = v;
    if (valid)
      *reinterpret_cast<float4*>(p.states + (bh * NC + chunk_of(0)) * kv + static_cast<long long>(k) * dv + v0 + c) = v;
  }
  fetch(0, 0);
  for (int i = 0; i < NC; ++i) {
    const int n = chunk_of(i), buf = i & 1;
    // Buffer buf ^ 1 was last read before the closing barrier of the previous chunk.
    if (i + 1 < NC) {
      fetch(i + 1, buf ^ 1);
      asm volatile("cp.async.wait_group 1;\n" ::);  // chunk i's group has landed, chunk i + 1's may not
    } else {
      asm volatile("cp.async.wait_group 0;\n" ::);
    }
    __syncthreads();  // every thread's copies (and the state) visible to all
    const float gamma = __ldg(p.gamma + bh * NC + n);
    // 1. W = X + sign_p · P s: partials, then one float4 of W per thread (256 = 64 rows x 4).
    partial_ps<KM>(smem + L::p + buf * L::kTile, s, part);
    __syncthreads();
    {
      const int sub = t / 64, idx = t % 64, row = idx % 16 + 16 * sub, col = idx / 16 * 4;
      float4 sum = part[sub * 64 + idx];
#pragma unroll
      for (int ks = 1; ks < 4; ++ks) sum = add4(sum, part[(ks * 4 + sub) * 64 + idx]);
      const float4 x = *reinterpret_cast<const float4*>(smem + L::x + buf * CM * VT + row * VT + col);
      const float4 w = make_float4(fmaf(p.sign_p, sum.x, x.x), fmaf(p.sign_p, sum.y, x.y), fmaf(p.sign_p, sum.z, x.z),
                                   fmaf(p.sign_p, sum.w, x.w));
      *reinterpret_cast<float4*>(ws + row * VT + col) = w;
      if (row < C && col < cols) *reinterpret_cast<float4*>(p.w + ((bh * NC + n) * C + row) * dv + v0 + col) = w;
    }
    __syncthreads();  // W complete; the partials are free again
    // 2. s <- γ s + sign_q · Qᵀ W + R: partials, then KM * VT / 4 float4 of the state, each owned by
    // one thread (which alone reads and writes it here).
    partial_qw<KM>(smem + L::q + buf * L::kTile, ws, part);
    __syncthreads();
    {
      constexpr int TPS = KM / 2, RS = kThreads / TPS;
      float* out = i + 1 < NC ? p.states + (bh * NC + chunk_of(i + 1)) * kv : p.final_state + bh * kv;
      for (int u = t; u < KM * VT / 4; u += kThreads) {
        const int m = u / TPS, idx = u % TPS;
        const int k = 4 * (idx % (KM / 4)) + m / 2, c = 8 * (idx / (KM / 4)) + 4 * (m % 2);
        float4 sum = part[m * TPS + idx];
#pragma unroll
        for (int rs = 1; rs < RS; ++rs) sum = add4(sum, part[(rs * 8 + m) * TPS + idx]);
        const float4 old = *reinterpret_cast<const float4*>(s + k * VT + c);
        const float4 rr = *reinterpret_cast<const float4*>(smem + L::r + buf * KM * VT + k * VT + c);
        const float4 v = make_float4(
            fmaf(gamma, old.x, fmaf(p.sign_q, sum.x, rr.x)), fmaf(gamma, old.y, fmaf(p.sign_q, sum.y, rr.y)),
            fmaf(gamma, old.z, fmaf(p.sign_q, sum.z, rr.z)), fmaf(gamma, old.w, fmaf(p.sign_q, sum.w, rr.w)));
        *reinterpret_cast<float4*>(s + k * VT + c) = v;
        if (k < dk && c < cols) *reinterpret_cast<float4*>(out + static_cast<long long>(k) * dv + v0 + c) = v;
      }
    }
    __syncthreads();  // the state is whole before the next chunk reads it; buf may be refilled
  }
#endif
}

template <int KM>
cudaError_t launch_walk(const DeltaChunkRecurrenceParams& p, cudaStream_t stream) {
  const size_t bytes = sizeof(float) * Smem<KM>::total;
  // Above 48 KB a kernel must opt in to dynamic shared memory; the setting belongs to the current
  // device, so it is made at every launch (a host-side call of a few microseconds).
  const cudaError_t opt_in = cudaFuncSetAttribute(delta_chunk_recurrence_kernel<KM>,
                                                  cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
  if (opt_in != cudaSuccess) return opt_in;
  const long long blocks = p.batch_heads * ((p.dv + VT - 1) / VT);
  delta_chunk_recurrence_kernel<KM><<<static_cast<unsigned>(blocks), kThreads, bytes, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace

size_t delta_chunk_recurrence_smem_bytes(int dk) {
  return sizeof(float) * (dk <= 64 ? Smem<64>::total : Smem<kDeltaRecMaxKey>::total);
}

cudaError_t launch_delta_chunk_recurrence(const DeltaChunkRecurrenceParams& p, cudaStream_t stream) {
  if (p.batch_heads <= 0 || p.chunks <= 0 || p.dv <= 0) return cudaSuccess;
  if (!delta_chunk_recurrence_dims_supported(p.dk, p.dv, p.chunk_len)) return cudaErrorInvalidValue;
  return p.dk <= 64 ? launch_walk<64>(p, stream) : launch_walk<kDeltaRecMaxKey>(p, stream);
}

}  // namespace scanlab::ops::cuda
