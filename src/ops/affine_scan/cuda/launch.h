// Launcher API of the affine-scan CUDA kernels: plain structs and functions, no torch types, so the
// .cu files build with nvcc alone. Only ops/affine_scan/dispatch.cpp (under SCANLAB_WITH_CUDA) and
// the .cu files include this header.
#pragma once
#include <cuda_runtime_api.h>

namespace scanlab::ops::cuda {

enum AffineGate : int { kGateIdentity = 0, kGateScalar = 1, kGateDiagonal = 2 };

// The largest key dim the decode steps stage in shared memory (3 * K floats per block).
constexpr int kMaxStepKeyDim = 1024;

// One decode step h <- a ▶ h + k vᵀ, o = hᵀ q for BH = B*H independent heads. Every pointer is a
// contiguous float32 array: q, k [BH, K]; v [BH, V]; log_a [BH] (scalar), [BH, K] (diagonal) or null
// (identity); state [BH, K, V], read and written once, in place; out [BH, V].
struct AffineStepParams {
  long long batch_heads = 0;
  int dk = 0, dv = 0;
  int gate = kGateIdentity;
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  const float* log_a = nullptr;
  float* state = nullptr;
  float* out = nullptr;
};

// One mLSTM decode step (see mlstm.h) for BH heads: q, k [BH, K]; v [BH, V]; log_f, log_i [BH];
// the stabilized state C [BH, K, V], n [BH, K], m [BH], updated in place (two kernels: C by column
// tiles, which also read n and m; then n and m); out [BH, V].
struct MlstmStepParams {
  long long batch_heads = 0;
  int dk = 0, dv = 0;
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  const float* log_f = nullptr;
  const float* log_i = nullptr;
  float* C = nullptr;
  float* n = nullptr;
  float* m = nullptr;
  float* out = nullptr;
};

// Each returns the launch error (cudaSuccess when the kernel was queued).
cudaError_t launch_affine_scan_step(const AffineStepParams& p, cudaStream_t stream);
cudaError_t launch_mlstm_step(const MlstmStepParams& p, cudaStream_t stream);

}  // namespace scanlab::ops::cuda

namespace scanlab::ops::cuda {

// The diagonal-gate scan with V = 1 (ops/affine_scan/diagonal_scan.h), float32, one block per
// (b, h) with one thread per key k (K rounded up to whole warps).
constexpr int kMaxDiagonalScanKeyDim = 1024;

// Layouts (contiguous): q, k, log_a [B, T, H, K]; v, o, d_o [B, T, H]; h0, h_final, d_h_final [B, H, K];
// checkpoints [B, T / stride rounded up, H, K] hold the state before each stride-token segment.
struct DiagonalScanParams {
  int batch = 0, steps = 0, heads = 0, dk = 0, stride = 32;
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  const float* log_a = nullptr;
  const float* h0 = nullptr;  // may be null (zeros)
  float* o = nullptr;
  float* h_final = nullptr;
  float* checkpoints = nullptr;
  // backward only
  const float* d_o = nullptr;        // may be null (zeros)
  const float* d_h_final = nullptr;  // may be null (zeros)
  float* d_q = nullptr;
  float* d_k = nullptr;
  float* d_v = nullptr;
  float* d_log_a = nullptr;
  float* d_h0 = nullptr;
};

cudaError_t launch_diagonal_scan_forward(const DiagonalScanParams& p, cudaStream_t stream);
cudaError_t launch_diagonal_scan_backward(const DiagonalScanParams& p, cudaStream_t stream);

}  // namespace scanlab::ops::cuda
