// The inter-chunk state pass (cuda/chunk_state_pass_launch.h). One thread per state element (b, h,
// k, v) walks the chunks and keeps its element in a register, so the state is read once per chunk
// (u) and written once (states): the pass moves 2 * NC * K * V floats per head and is bound by
// memory bandwidth. Consecutive threads hold consecutive (k, v), so every load and store is
// coalesced; the loads of u and decay do not depend on x, so the unrolled loop keeps several in
// flight while the multiply-adds wait.
#include "ops/cuda/chunk_state_pass_launch.h"

namespace scanlab::ops::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxGridY = 65535;

__global__ void __launch_bounds__(kThreads) chunk_state_pass_kernel(ChunkStatePassParams p) {
  const long long kv = static_cast<long long>(p.dk) * p.dv;
  const long long e = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= kv) return;
  const long long k = e / p.dv;
  const float* __restrict__ u = p.u;
  const float* __restrict__ decay = p.decay;
  float* __restrict__ states = p.states;
  for (long long bh = blockIdx.y; bh < p.batch_heads; bh += gridDim.y) {
    float x = p.init ? p.init[bh * kv + e] : 0.f;
    const long long base = bh * p.chunks;
#pragma unroll 4
    for (int i = 0; i < p.chunks; ++i) {
      const long long n = base + (p.reverse ? p.chunks - 1 - i : i);
      const float a = p.per_key ? decay[n * p.dk + k] : decay[n];
      states[n * kv + e] = x;
      x = fmaf(a, x, u[n * kv + e]);
    }
    p.final_state[bh * kv + e] = x;
  }
}

}  // namespace

cudaError_t launch_chunk_state_pass(const ChunkStatePassParams& p, cudaStream_t stream) {
  const long long kv = static_cast<long long>(p.dk) * p.dv;
  if (p.batch_heads <= 0 || kv <= 0 || p.chunks <= 0) return cudaSuccess;
  const dim3 grid(static_cast<unsigned>((kv + kThreads - 1) / kThreads),
                  static_cast<unsigned>(p.batch_heads < kMaxGridY ? p.batch_heads : kMaxGridY));
  chunk_state_pass_kernel<<<grid, kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace scanlab::ops::cuda
