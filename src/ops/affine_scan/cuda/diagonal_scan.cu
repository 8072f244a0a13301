// The diagonal-gate affine scan with V = 1 (ops/affine_scan/diagonal_scan.h), forward and backward.
// One block per (b, h); thread k owns the scalar recurrence h[k], so the state never leaves a
// register. The per-token sums over k (o_t forward, d v_t backward) are warp shuffles, then one
// shared-memory pass across warps when K > 32. Loads along k are contiguous (coalesced).
// Backward walks the segments of kStride tokens from the last: it recomputes the segment's states
// from the checkpoint the forward stored (into a per-thread array of kStride + 1 floats), then goes
// back through the segment carrying d h.
#include "ops/affine_scan/cuda/launch.h"

namespace scanlab::ops::cuda {
namespace {

constexpr int kStride = 32;
constexpr int kWarp = 32;

// Sum of x over the block's threads, returned to every thread. `scratch` holds one float per warp.
__device__ float block_sum(float x, float* scratch) {
#pragma unroll
  for (int off = kWarp / 2; off > 0; off /= 2) x += __shfl_xor_sync(0xffffffffu, x, off);
  if (blockDim.x == kWarp) return x;
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp, warps = blockDim.x / kWarp;
  __syncthreads();  // the previous call's readers are done with scratch
  if (lane == 0) scratch[warp] = x;
  __syncthreads();
  float total = 0.f;
  for (int w = 0; w < warps; ++w) total += scratch[w];
  return total;
}

__global__ void diagonal_scan_forward_kernel(DiagonalScanParams p) {
  __shared__ float scratch[kMaxDiagonalScanKeyDim / kWarp];
  const int b = blockIdx.x / p.heads, h = blockIdx.x % p.heads, i = threadIdx.x;
  const bool lane_on = i < p.dk;
  const long long H = p.heads, K = p.dk, T = p.steps;
  float s = (lane_on && p.h0) ? p.h0[(b * H + h) * K + i] : 0.f;
  for (long long t = 0; t < T; ++t) {
    if (t % kStride == 0 && lane_on)
      p.checkpoints[((b * ((T + kStride - 1) / kStride) + t / kStride) * H + h) * K + i] = s;
    const long long row = (b * T + t) * H + h;
    float term = 0.f;
    if (lane_on) {
      const long long at = row * K + i;
      s = __expf(p.log_a[at]) * s + p.k[at] * p.v[row];
      term = p.q[at] * s;
    }
    const float o = block_sum(term, scratch);
    if (i == 0) p.o[row] = o;
  }
  if (lane_on) p.h_final[(b * H + h) * K + i] = s;
}

__global__ void diagonal_scan_backward_kernel(DiagonalScanParams p) {
  __shared__ float scratch[kMaxDiagonalScanKeyDim / kWarp];
  const int b = blockIdx.x / p.heads, h = blockIdx.x % p.heads, i = threadIdx.x;
  const bool lane_on = i < p.dk;
  const long long H = p.heads, K = p.dk, T = p.steps, segments = (T + kStride - 1) / kStride;
  float dh = (lane_on && p.d_h_final) ? p.d_h_final[(b * H + h) * K + i] : 0.f;
  float states[kStride + 1];  // states[j] = h after token t0 + j - 1 (states[0]: before the segment)
  for (long long seg = segments - 1; seg >= 0; --seg) {
    const long long t0 = seg * kStride, t1 = t0 + kStride < T ? t0 + kStride : T;
    states[0] = lane_on ? p.checkpoints[((b * segments + seg) * H + h) * K + i] : 0.f;
    for (long long t = t0; t < t1; ++t) {
      float next = 0.f;
      if (lane_on) {
        const long long row = (b * T + t) * H + h, at = row * K + i;
        next = __expf(p.log_a[at]) * states[t - t0] + p.k[at] * p.v[row];
      }
      states[t - t0 + 1] = next;
    }
    for (long long t = t1 - 1; t >= t0; --t) {
      const long long row = (b * T + t) * H + h, at = row * K + i;
      float dv_term = 0.f;
      if (lane_on) {
        const float d_out = p.d_o ? p.d_o[row] : 0.f;
        dh += p.q[at] * d_out;  // d h_t: from the future and from o_t
        const float a = __expf(p.log_a[at]);
        p.d_q[at] = states[t - t0 + 1] * d_out;
        p.d_k[at] = dh * p.v[row];
        p.d_log_a[at] = dh * a * states[t - t0];
        dv_term = dh * p.k[at];
        dh *= a;  // d h_{t-1}
      }
      const float dv = block_sum(dv_term, scratch);
      if (i == 0) p.d_v[row] = dv;
    }
  }
  if (lane_on) p.d_h0[(b * H + h) * K + i] = dh;
}

bool valid(const DiagonalScanParams& p) {
  return p.batch > 0 && p.steps > 0 && p.heads > 0 && p.dk > 0 && p.dk <= kMaxDiagonalScanKeyDim && p.stride == kStride;
}

dim3 block_for(const DiagonalScanParams& p) { return dim3(((p.dk + kWarp - 1) / kWarp) * kWarp); }

}  // namespace

cudaError_t launch_diagonal_scan_forward(const DiagonalScanParams& p, cudaStream_t stream) {
  if (!valid(p)) return cudaErrorInvalidValue;
  diagonal_scan_forward_kernel<<<dim3(static_cast<unsigned>(p.batch) * p.heads), block_for(p), 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t launch_diagonal_scan_backward(const DiagonalScanParams& p, cudaStream_t stream) {
  if (!valid(p)) return cudaErrorInvalidValue;
  diagonal_scan_backward_kernel<<<dim3(static_cast<unsigned>(p.batch) * p.heads), block_for(p), 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace scanlab::ops::cuda
