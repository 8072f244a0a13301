// The delta rule's inter-chunk recurrence (cuda/delta_chunk_recurrence_launch.h), both directions in
// one kernel: one block per (bh, tile of 16 or 32 columns of V) walks the chunks with its state tile on
// chip, so the sequential part costs one launch instead of two small batched products per chunk.
// Per chunk, two dependent products:  W = X + sign_p · P s  ([64, K]·[K, 16]),  then
// s <- γ s + sign_q · Qᵀ W + R  ([K, 64]·[64, 16])  (16 columns shown).
// Precision, two variants of one kernel (params.tf32):
// - float32 (default): plain FMA on CUDA cores, float32 state and accumulation; each product is split
//   into 4 (first) or 512 / K (second) slices of its reduction whose partial sums are added in a fixed
//   order, so results are the same run to run. The torch loop it replaces ran in float32, and float32
//   inputs keep it.
// - TF32 tensor cores (WMMA m16n16k8, float32 accumulation), for the fused bf16 path
//   (delta_wy_*.cu): there the operands came from bf16 inputs, so TF32's 10-bit mantissa is finer than
//   what they carry, and the walk's FMA count (2 K·C·V per chunk and head) on CUDA cores alone cost
//   more than fla's whole op. The state stays float32 in shared memory between chunks; only the
//   product operands are rounded. A block takes 16 or 32 columns of V (32 where that still fills the
//   GPU: half the P and Q tiles read per head).
// Tiles live in shared memory, rows padded to 64 (C <= 64) and keys to KM = 64 or 128 with zeros,
// which add nothing; the next chunk's P, Q, X and R tiles are copied with cp.async (sm_80) while the
// current chunk is multiplied (two buffers each).
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

// The shared memory of the walk, as float offsets: multiples of 8 (32-byte aligned, as WMMA loads
// need; float4 aligned for the rest). VTT columns of V per block.
template <int KM, int VTT = VT, bool TC = false>
struct Smem {
  static constexpr int kTile = CM * ldp<KM>();  // one P or Q tile [CM, KM]
  static constexpr int p = 0;                   // [2][CM, ldp]
  static constexpr int q = p + 2 * kTile;       // [2][CM, ldp]
  static constexpr int x = q + 2 * kTile;       // [2][CM, VTT]
  static constexpr int r = x + 2 * CM * VTT;    // [2][KM, VTT]
  static constexpr int s = r + 2 * KM * VTT;    // [KM, VTT] the state tile
  static constexpr int w = s + KM * VTT;        // [CM, VTT] W of the current chunk
  // float32: partial sums of either product: 4 slices x 4 rows x 64 float4 (first), (512 / KM)
  // slices x 8 x (KM / 2) float4 (second); both at most 8192 floats. TF32: Qᵀ W, [KM, VTT].
  static constexpr int part = w + CM * VTT;
  static constexpr int total = part + (TC ? KM * VTT : 8192);
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

// TF32 products on tensor cores (WMMA m16n16k8, float32 accumulation). Every operand is a float32
// tile in shared memory, rounded to TF32 as it is loaded into a fragment; pointers are 32-byte
// aligned and strides multiples of 4 (Smem, ldp). Results are the same run to run (fixed order).
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

// out [M, VTT] = A · b with A [M, R] in shared memory (element (m, r) at A[m · am + r · ar]: row-major
// P is (ldp, 1), Qᵀ read from Q is (1, ldp); FragA's layout says which) and b [R, VTT] row-major; one
// warp per 16 x 16 output tile, the reduction in steps of 8.
template <typename FragA, int M, int R, int VTT>
__device__ void tc_product(const float* A, int am, int ar, const float* b, float* out) {
#if __CUDA_ARCH__ >= 800
  constexpr int CT = VTT / 16;
  const int lda = am > ar ? am : ar;
  for (int tile = threadIdx.x / 32; tile < (M / 16) * CT; tile += kWarps) {
    const int r = tile / CT, c = tile % CT;
    FragC acc;
    wmma::fill_fragment(acc, 0.f);
#pragma unroll 4
    for (int k0 = 0; k0 < R; k0 += 8) {
      FragA fa;
      FragB fb;
      wmma::load_matrix_sync(fa, A + 16 * r * am + k0 * ar, lda);
      wmma::load_matrix_sync(fb, b + k0 * VTT + 16 * c, VTT);
      round_tf32(fa);
      round_tf32(fb);
      wmma::mma_sync(acc, fa, fb, acc);
    }
    wmma::store_matrix_sync(out + 16 * r * VTT + 16 * c, acc, VTT, wmma::mem_row_major);
  }
#endif
}

__device__ inline float4 fma4v(float a, const float4& x, const float4& y) {  // a·x + y
  return make_float4(fmaf(a, x.x, y.x), fmaf(a, x.y, y.y), fmaf(a, x.z, y.z), fmaf(a, x.w, y.w));
}

// One block per (bh, VTT columns of V); TC picks the tensor-core products (VTT 16 or 32), else the
// float32 ones (VTT = VT).
template <int KM, int VTT, bool TC>
__global__ void __launch_bounds__(kThreads, 1) delta_chunk_recurrence_kernel(DeltaChunkRecurrenceParams p) {
#if __CUDA_ARCH__ >= 800
  static_assert(TC ? VTT % 16 == 0 : VTT == VT, "the float32 products are laid out for 16 columns");
  using L = Smem<KM, VTT, TC>;
  extern __shared__ __align__(128) float smem[];
  float* s = smem + L::s;
  float* ws = smem + L::w;
  float* part = smem + L::part;
  const int t = threadIdx.x;
  const int NC = p.chunks, C = p.chunk_len, dk = p.dk, dv = p.dv;
  const int tiles = (dv + VTT - 1) / VTT;
  const long long bh = blockIdx.x / tiles;  // the V tiles of one head are neighbours: P, Q reads meet in L2
  const int v0 = static_cast<int>(blockIdx.x % tiles) * VTT;
  const int cols = min(VTT, dv - v0);  // valid columns of this tile, a multiple of 4
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
    fetch_tile(smem + L::x + buf * CM * VTT, VTT, x, p.x.row_stride, CM, VTT / 4, p.x.ptr ? C : 0, cols / 4);
    const float* r = p.r ? p.r + (bh * NC + n) * kv + v0 : p.p.ptr;
    fetch_tile(smem + L::r + buf * KM * VTT, VTT, r, dv, KM, VTT / 4, p.r ? dk : 0, cols / 4);
    asm volatile("cp.async.commit_group;\n" ::);
  };
  // The state entering the walk, zero past K and past V; it is also the first chunk's emitted state.
  for (int e = t; e < KM * VTT / 4; e += kThreads) {
    const int k = e / (VTT / 4), c = e % (VTT / 4) * 4;
    const bool valid = k < dk && c < cols;
    float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
    if (valid && p.init)
      v = *reinterpret_cast<const float4*>(p.init + bh * kv + static_cast<long long>(k) * dv + v0 + c);
    *reinterpret_cast<float4*>(s + k * VTT + c) = v;
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
    const float* xs = smem + L::x + buf * CM * VTT;
    const float* rs = smem + L::r + buf * KM * VTT;
    // 1. W = X + sign_p · P s.
    if constexpr (TC) {
      tc_product<FragARow, CM, KM, VTT>(smem + L::p + buf * L::kTile, ldp<KM>(), 1, s,
                                        ws);  // P s into W's tile, then X added in place
      __syncthreads();
      for (int e = t; e < CM * VTT / 4; e += kThreads) {
        const int row = e / (VTT / 4), col = e % (VTT / 4) * 4;
        float4* wp = reinterpret_cast<float4*>(ws + row * VTT + col);
        const float4 w = fma4v(p.sign_p, *wp, *reinterpret_cast<const float4*>(xs + row * VTT + col));
        *wp = w;
        if (row < C && col < cols) *reinterpret_cast<float4*>(p.w + ((bh * NC + n) * C + row) * dv + v0 + col) = w;
      }
    } else {  // partials, then one float4 of W per thread (256 = 64 rows x 4)
      float4* parts = reinterpret_cast<float4*>(part);
      partial_ps<KM>(smem + L::p + buf * L::kTile, s, parts);
      __syncthreads();
      const int sub = t / 64, idx = t % 64, row = idx % 16 + 16 * sub, col = idx / 16 * 4;
      float4 sum = parts[sub * 64 + idx];
#pragma unroll
      for (int ks = 1; ks < 4; ++ks) sum = add4(sum, parts[(ks * 4 + sub) * 64 + idx]);
      const float4 w = fma4v(p.sign_p, sum, *reinterpret_cast<const float4*>(xs + row * VTT + col));
      *reinterpret_cast<float4*>(ws + row * VTT + col) = w;
      if (row < C && col < cols) *reinterpret_cast<float4*>(p.w + ((bh * NC + n) * C + row) * dv + v0 + col) = w;
    }
    __syncthreads();  // W complete; the partials are free again
    // 2. s <- γ s + sign_q · Qᵀ W + R: the product, then KM * VTT / 4 float4 of the state, each owned
    // by one thread (which alone reads and writes it here).
    float* out = i + 1 < NC ? p.states + (bh * NC + chunk_of(i + 1)) * kv : p.final_state + bh * kv;
    auto update = [&](int k, int c, float4 sum) {
      float4* sp = reinterpret_cast<float4*>(s + k * VTT + c);
      const float4 v = fma4v(gamma, *sp, fma4v(p.sign_q, sum, *reinterpret_cast<const float4*>(rs + k * VTT + c)));
      *sp = v;
      if (k < dk && c < cols) *reinterpret_cast<float4*>(out + static_cast<long long>(k) * dv + v0 + c) = v;
    };
    if constexpr (TC) {
      tc_product<FragACol, KM, CM, VTT>(smem + L::q + buf * L::kTile, 1, ldp<KM>(), ws, part);
      __syncthreads();
      for (int e = t; e < KM * VTT / 4; e += kThreads) {
        const int k = e / (VTT / 4), c = e % (VTT / 4) * 4;
        update(k, c, *reinterpret_cast<const float4*>(part + k * VTT + c));
      }
    } else {
      float4* parts = reinterpret_cast<float4*>(part);
      partial_qw<KM>(smem + L::q + buf * L::kTile, ws, parts);
      __syncthreads();
      constexpr int TPS = KM / 2, RS = kThreads / TPS;
      for (int u = t; u < KM * VT / 4; u += kThreads) {
        const int m = u / TPS, idx = u % TPS;
        float4 sum = parts[m * TPS + idx];
#pragma unroll
        for (int r = 1; r < RS; ++r) sum = add4(sum, parts[(r * 8 + m) * TPS + idx]);
        update(4 * (idx % (KM / 4)) + m / 2, 8 * (idx / (KM / 4)) + 4 * (m % 2), sum);
      }
    }
    __syncthreads();  // the state is whole before the next chunk reads it; buf may be refilled
  }
#endif
}

template <int KM, int VTT, bool TC>
cudaError_t launch_walk(const DeltaChunkRecurrenceParams& p, cudaStream_t stream) {
  const size_t bytes = sizeof(float) * Smem<KM, VTT, TC>::total;
  // Above 48 KB a kernel must opt in to dynamic shared memory; the setting belongs to the current
  // device, so it is made at every launch (a host-side call of a few microseconds).
  const cudaError_t opt_in = cudaFuncSetAttribute(delta_chunk_recurrence_kernel<KM, VTT, TC>,
                                                  cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
  if (opt_in != cudaSuccess) return opt_in;
  const long long blocks = p.batch_heads * ((p.dv + VTT - 1) / VTT);
  delta_chunk_recurrence_kernel<KM, VTT, TC><<<static_cast<unsigned>(blocks), kThreads, bytes, stream>>>(p);
  return cudaGetLastError();
}

// The TF32 walk: 32 columns a block where that still gives every SM a block and its shared memory
// fits the device, else 16.
template <int KM>
cudaError_t launch_tc_walk(const DeltaChunkRecurrenceParams& p, cudaStream_t stream) {
  int device = 0, sms = 0, smem = 0;
  cudaError_t err = cudaGetDevice(&device);
  if (err == cudaSuccess) err = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  if (err == cudaSuccess) err = cudaDeviceGetAttribute(&smem, cudaDevAttrMaxSharedMemoryPerBlockOptin, device);
  if (err != cudaSuccess) return err;
  const bool wide = p.batch_heads * ((p.dv + 31) / 32) >= sms &&
                    sizeof(float) * Smem<KM, 32, true>::total <= static_cast<size_t>(smem);
  return wide ? launch_walk<KM, 32, true>(p, stream) : launch_walk<KM, 16, true>(p, stream);
}

}  // namespace

size_t delta_chunk_recurrence_smem_bytes(int dk) {
  // The float32 walk's (its partial sums make it the larger of the two at 16 columns); the TF32 walk
  // takes 32 columns only where the device has room for them.
  static_assert(Smem<kDeltaRecMaxKey>::total >= Smem<kDeltaRecMaxKey, 16, true>::total, "");
  return sizeof(float) * (dk <= 64 ? Smem<64>::total : Smem<kDeltaRecMaxKey>::total);
}

cudaError_t launch_delta_chunk_recurrence(const DeltaChunkRecurrenceParams& p, cudaStream_t stream) {
  if (p.batch_heads <= 0 || p.chunks <= 0 || p.dv <= 0) return cudaSuccess;
  if (!delta_chunk_recurrence_dims_supported(p.dk, p.dv, p.chunk_len)) return cudaErrorInvalidValue;
  if (p.tf32) return p.dk <= 64 ? launch_tc_walk<64>(p, stream) : launch_tc_walk<kDeltaRecMaxKey>(p, stream);
  return p.dk <= 64 ? launch_walk<64, VT, false>(p, stream) : launch_walk<kDeltaRecMaxKey, VT, false>(p, stream);
}

}  // namespace scanlab::ops::cuda
