// Launcher API of the fused chunked kernels for identity and scalar gates (cuda/chunk_gate.cu, the
// state passes in cuda/chunk_gate_state.cu): plain structs, no torch types, so the .cu files build
// with nvcc alone. Only ops/affine_scan/chunk_gate_cuda.cpp and those .cu files include it.
//
// Layouts (every array contiguous; bf16 arrays are passed as void* and hold __nv_bfloat16):
//   q, k, dq, dk     [B, T, H, K]  bf16          v, o, do, dv   [B, T, H, V]  bf16
//   g, dg            [B, H, NC * 64] float32: the cumulative log gate inside each chunk of 64 tokens
//                    (g_i = Σ_{l <= i} log a_l from the chunk's first token; the padding after the last
//                    token repeats its value), null for the identity gate (no dg either)
//   states, dstates  [B, H, NC, K, V] bf16: the state entering each chunk / the gradient of the state
//                    leaving it
//   h0, h_final, dh_final, dh0   [B, H, K, V] float32 (h0 and dh_final may be null: zeros)
//   scratch          float32, chunk_gate_scratch_floats(d, segments) of them when segments > 1
// K and V are 64 or 128 (chunk_gate_supported); the chunk length is fixed at 64 tokens.
#pragma once
#include <cuda_runtime_api.h>

#include <algorithm>

namespace scanlab::ops::cuda {

constexpr int kGateChunk = 64;

#ifdef __CUDACC__
#define SCANLAB_HOST_DEVICE __host__ __device__
#else
#define SCANLAB_HOST_DEVICE
#endif

inline bool chunk_gate_supported(int dk, int dv) { return (dk == 64 || dk == 128) && (dv == 64 || dv == 128); }

struct ChunkGateDims {
  int batch = 0, heads = 0, tokens = 0;  // B, H, T
  int dk = 0, dv = 0;                    // K, V
  SCANLAB_HOST_DEVICE int chunks() const { return (tokens + kGateChunk - 1) / kGateChunk; }
  // Blocks of one pass over chunk states: one per head and 64 x 64 tile of the [K, V] state.
  long long state_tiles() const { return static_cast<long long>(batch) * heads * (dk / 64) * (dv / 64); }
};

// Splitting the pass over chunk states. That pass is a chain over the chunks per state tile; with few
// tiles (B·H small, T long) most SMs idle while each tile walks NC chunks one after the other. Split,
// the chunks are cut into `segments` runs of equal length (the last may be shorter); every
// (tile, segment) walks its run from a zero state in parallel, keeping only the state leaving it and
// the run's summed log decay; a short pass over the segments gives each one its true entering state
// (and the final state); then every (tile, segment) walks its run again from that state, saving the
// chunk states. The second walk stands in for a fix-up pass (state += e^{decay from the run's start}
// · entering state) over the saved states: it moves about as many bytes (k and v tiles read instead of
// the bf16 states read and written again) and rounds each saved state to bf16 once, as the single walk
// does. Each (tile, segment) then walks twice its run's length in a row, so a split shortens the chain
// only with 3 runs or more.
constexpr int kStateTilesPerSm = 4;   // state-pass blocks resident per SM (54 KiB shared memory each)
constexpr int kMinSegmentChunks = 4;  // the automatic split keeps runs of at least this many chunks

// The number of runs a count of `requested` becomes: at most one per chunk, and no empty run (NC = 5
// asked for 4 runs walks 2 + 2 + 1).
inline int chunk_gate_normalize_segments(int chunks, int requested) {
  if (chunks <= 1 || requested <= 1) return 1;
  const int s = std::min(requested, chunks);
  const int per = (chunks + s - 1) / s;
  return (chunks + per - 1) / per;
}

// Segments for the state pass on a GPU of `sms` multiprocessors: `requested` when > 0 (tests force a
// split at small T), else one run unless the tiles fill at most half the SMs (measured on an H100 of
// 132 SMs: 128 tiles split into 4 runs were 3-8% slower than one walk, 32 and 64 tiles split were
// 1.4-2.3x faster, docs/performance.md §1c); then as many runs
// as keep every (tile, segment) resident at once (kStateTilesPerSm a SM), runs of kMinSegmentChunks or
// more, and at least 3 of them (2 runs walk as many chunks in a row as one).
inline int chunk_gate_segments(const ChunkGateDims& d, int sms, int requested = 0) {
  const int nc = d.chunks();
  if (requested > 0) return chunk_gate_normalize_segments(nc, requested);
  const long long tiles = d.state_tiles();
  if (tiles <= 0 || 2 * tiles > sms) return 1;
  const long long fit = static_cast<long long>(kStateTilesPerSm) * sms / tiles;
  const int s = static_cast<int>(std::min<long long>(fit, nc / kMinSegmentChunks));
  return s >= 3 ? chunk_gate_normalize_segments(nc, s) : 1;
}

// Scratch of a split pass: the [B, H, segments, K, V] float32 segment states (first the state leaving
// each run's zero-start walk, then, in place, the state entering it) and the [B, H, segments] summed
// log decays.
inline long long chunk_gate_scratch_floats(const ChunkGateDims& d, int segments) {
  return segments > 1 ? static_cast<long long>(d.batch) * d.heads * segments * (static_cast<long long>(d.dk) * d.dv + 1)
                      : 0;
}

struct ChunkGateForwardParams {
  ChunkGateDims d;
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  const float* g = nullptr;
  const float* h0 = nullptr;
  void* states = nullptr;  // written
  float* h_final = nullptr;
  void* o = nullptr;
  int segments = 1;          // of the state pass (chunk_gate_segments); 1: one walk over all chunks
  float* scratch = nullptr;  // with segments > 1
};

struct ChunkGateBackwardParams {
  ChunkGateDims d;
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  const float* g = nullptr;
  const void* states = nullptr;  // from the forward
  const void* d_o = nullptr;
  const float* dh_final = nullptr;
  void* dstates = nullptr;  // scratch, written by the first kernel and read by the second
  float* dh0 = nullptr;
  void* dq = nullptr;
  void* dk = nullptr;
  void* dv = nullptr;
  float* dg = nullptr;       // with g: d loss / d g_i (the caller turns it into d log a)
  int segments = 1;          // of the reverse state pass, as in the forward
  float* scratch = nullptr;  // with segments > 1
};

// Two kernels each: the pass over chunk states (one block per 64 x 64 tile of a head's state walks
// the chunks; split over the sequence, three kernels), then one block per (chunk, head) for the
// outputs / the input gradients.
cudaError_t launch_chunk_gate_forward(const ChunkGateForwardParams& p, cudaStream_t stream);
cudaError_t launch_chunk_gate_backward(const ChunkGateBackwardParams& p, cudaStream_t stream);

}  // namespace scanlab::ops::cuda
