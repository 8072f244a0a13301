// Launcher API of the delta-rule CUDA kernel: plain structs and functions, no torch types, so the
// .cu file builds with nvcc alone. Only ops/delta_rule/dispatch.cpp (under SCANLAB_WITH_CUDA) and
// the .cu file include this header.
#pragma once
#include <cuda_runtime_api.h>

namespace scanlab::ops::cuda {

// Each thread keeps its K / 8 state entries in registers between the two passes over K.
constexpr int kMaxDeltaKeyDim = 256;

// One gated delta-rule decode step (see delta_rule.h) for BH heads: q, k [BH, K]; v [BH, V];
// beta [BH]; log_a [BH] or null (no gate); state [BH, K, V] read and written once, in place; out [BH, V].
struct DeltaStepParams {
  long long batch_heads = 0;
  int dk = 0, dv = 0;
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  const float* beta = nullptr;
  const float* log_a = nullptr;
  float* state = nullptr;
  float* out = nullptr;
};

// Returns the launch error (cudaSuccess when the kernel was queued).
cudaError_t launch_delta_rule_step(const DeltaStepParams& p, cudaStream_t stream);

}  // namespace scanlab::ops::cuda
