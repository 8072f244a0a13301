// Host-side pieces shared by the autograd wiring of the fused chunked kernels (chunk_gate_cuda.cpp:
// identity and scalar gates; chunk_vector_gate_cuda.cpp: the per-key gate): how tensors become the
// kernels' POD params. Included only where SCANLAB_WITH_CUDA is defined.
#pragma once
#include <ATen/ATen.h>
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdint>

#include "core/check.h"
#include "ops/affine_scan/cuda/chunk_gate_launch.h"
#include "ops/launch_check.h"

namespace scanlab::ops::chunk_kernels {

// B, T, H, K from q [B, T, H, K] and V from v [B, T, H, V].
inline cuda::ChunkGateDims dims_of(const at::Tensor& q, const at::Tensor& v) {
  cuda::ChunkGateDims d;
  d.batch = static_cast<int>(q.size(0));
  d.tokens = static_cast<int>(q.size(1));
  d.heads = static_cast<int>(q.size(2));
  d.dk = static_cast<int>(q.size(3));
  d.dv = static_cast<int>(v.size(3));
  return d;
}

// Outputs and scratch: NaN-filled when `poison` (tests: proves the kernels write every element).
inline at::Tensor output(at::IntArrayRef sizes, const at::TensorOptions& options, bool poison) {
  return poison ? at::full(sizes, NAN, options) : at::empty(sizes, options);
}

// The kernels move rows in 16-byte vectors: a view that starts mid-vector is copied.
inline at::Tensor kernel_ready(const at::Tensor& t) {
  at::Tensor c = t.contiguous();
  return reinterpret_cast<std::uintptr_t>(c.data_ptr()) % 16 == 0 ? c : c.clone();
}

// The optional float32 inputs and outputs: undefined or empty means absent (null for the kernels).
inline float* data_or_null(const at::Tensor& t) { return t.defined() && t.numel() ? t.data_ptr<float>() : nullptr; }

// The inputs both directions of both kernel families read, into their params (g null: no gate).
template <typename Params>
void set_inputs(Params& p, const cuda::ChunkGateDims& d, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                const at::Tensor& g) {
  p.d = d;
  p.q = q.data_ptr();
  p.k = k.data_ptr();
  p.v = v.data_ptr();
  p.g = data_or_null(g);
}

}  // namespace scanlab::ops::chunk_kernels
