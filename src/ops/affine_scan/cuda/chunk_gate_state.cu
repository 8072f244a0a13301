// The passes over chunk states of the fused chunked kernels for identity and scalar gates
// (chunk_gate.cu has the math): one block per (head, 64 x 64 tile of the [K, V] state) walks the
// chunks with the tile in accumulator registers, forward x <- e^G x + kᵀ(v ⊙ e^{G-g}) saving the
// state entering each chunk, backward from the last chunk D <- e^G D + (q ⊙ e^g)ᵀ do saving the
// gradient of the state leaving each chunk; split over the sequence when the tiles are few
// (chunk_gate_launch.h says when and how).
#include "ops/affine_scan/cuda/chunk_gate_tiles.cuh"

namespace scanlab::ops::cuda::chunk_gate_detail {
namespace {

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

cudaError_t launch_walks(const PassArgs& a, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(a.d.batch * a.d.heads * a.segments), a.d.dk / 64, a.d.dv / 64);
  state_pass_kernel<<<grid, kPassWarps * 32, state_pass_smem(), stream>>>(a);
  return cudaGetLastError();
}

}  // namespace

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
  float* seg = scratch;                                                                       // [B·H, S, K, V]
  float* decay = g ? scratch + static_cast<long long>(d.batch) * d.heads * S * kv : nullptr;  // [B·H, S]
  // 1. every run from zero: the state leaving it and its decay; nothing saved.
  cudaError_t err = launch_walks({d, a, b, g, nullptr, nullptr, seg, decay, reverse, S, per}, stream);
  if (err != cudaSuccess) return err;
  // 2. the entering state of every run, and the final state.
  const CombineArgs c{d.batch * d.heads, S, kv, init, seg, decay, final_state, reverse};
  const long long threads = static_cast<long long>(c.heads_total) * kv;
  segment_combine_kernel<<<static_cast<unsigned>((threads + kCombineThreads - 1) / kCombineThreads), kCombineThreads, 0,
                           stream>>>(c);
  err = cudaGetLastError();
  if (err != cudaSuccess) return err;
  // 3. every run again from its entering state, saving the chunk states.
  return launch_walks({d, a, b, g, seg, states, nullptr, nullptr, reverse, S, per}, stream);
}

}  // namespace scanlab::ops::cuda::chunk_gate_detail
