// Routing between the fused CUDA kernels and the device-generic torch paths: a decode step goes to its
// fused kernel, the chunked form of an identity or scalar gate to chunk_gate_cuda.cpp's kernels and
// that of a vector (per-key) gate to chunk_vector_gate_cuda.cpp's, where supports() accepts the
// arguments. With those two files, the only ones of this op that know both devices.
#include <atomic>
#include <vector>

#include "core/check.h"
#include "ops/affine_scan/affine_scan.h"
#include "ops/affine_scan/diagonal_scan.h"
#include "ops/affine_scan/mlstm.h"
#include "ops/fused_step.h"
#include "ops/op_common.h"

#ifdef SCANLAB_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>

#include "ops/affine_scan/cuda/launch.h"
#include "ops/launch_check.h"
#endif

namespace scanlab::ops {

namespace {
std::atomic<bool> g_fused_chunked{true};
}  // namespace

void set_fused_chunked_kernels(bool on) { g_fused_chunked = on; }
bool fused_chunked_kernels() { return g_fused_chunked; }

AffineScanChunkedPath affine_scan_chunked_path(const AffineScanArgs& a) {
  // A diagonal gate with a narrow value (Mamba/S6: one head per channel, V = 1) makes the chunked
  // form build [s, s, K] decays per head for O(s·K) work per token against the token loop's O(K·V):
  // 16x more at V = 1, and its temporaries grow with the channel count. V = 1 takes the fused scan
  // (diagonal_scan.h); other narrow V the token loop, which computes the same function (it is the
  // reference) with T small launches instead. The fused chunked kernels come first: they take only
  // V of 64 or 128.
  check_affine_scan_args(a);
  const bool fused = g_fused_chunked;
  if (fused && affine_scan_chunked_cuda_supports(a)) return AffineScanChunkedPath::ChunkedCuda;
  if (fused && affine_scan_chunked_vector_gate_cuda_supports(a)) return AffineScanChunkedPath::ChunkedVectorGateCuda;
  if (affine_scan_diagonal_single_value_supports(a)) return AffineScanChunkedPath::DiagonalSingleValue;
  if (gate_kind(a.log_a, 3) == GateKind::Diagonal && a.v.size(3) < kTokenLoopMaxValueDim)
    return AffineScanChunkedPath::TokenLoop;
  return AffineScanChunkedPath::ChunkedTorch;
}

AffineScanOut affine_scan_chunked(const AffineScanArgs& a) {
  switch (affine_scan_chunked_path(a)) {
    case AffineScanChunkedPath::ChunkedCuda:
      return affine_scan_chunked_cuda(a);
    case AffineScanChunkedPath::ChunkedVectorGateCuda:
      return affine_scan_chunked_vector_gate_cuda(a);
    case AffineScanChunkedPath::DiagonalSingleValue:
      return affine_scan_diagonal_single_value(a);
    case AffineScanChunkedPath::TokenLoop:
      return affine_scan_ref(a);
    case AffineScanChunkedPath::ChunkedTorch:
      break;
  }
  return affine_scan_chunked_torch(a);
}

namespace {

#ifdef SCANLAB_WITH_CUDA
constexpr int64_t kMaxKeyDim = cuda::kMaxStepKeyDim;
#else
constexpr int64_t kMaxKeyDim = 0;  // no kernels: supports() is false
#endif

AffineStepArgs affine_float32(const AffineStepArgs& a) {
  return {float32(a.q), float32(a.k), float32(a.v), float32(a.log_a)};
}

MlstmStepArgs mlstm_float32(const MlstmStepArgs& a) {
  return {float32(a.q), float32(a.k), float32(a.v), float32(a.log_f), float32(a.log_i)};
}

}  // namespace

// mLSTM's state for route_fused_step: C decides the route, n and m go with it.
static std::vector<at::Tensor*> state_tensors(MlstmState& s) { return {&s.C, &s.n, &s.m}; }

bool affine_scan_step_cuda_supports(const AffineStepArgs& a, const at::Tensor& h) {
  return kCudaBuild && a.q.defined() && a.q.dim() == 3 && a.q.size(2) <= kMaxKeyDim &&
         fused_step_eligible({a.q, a.k, a.v, a.log_a}, {h});
}

void affine_scan_step_cuda(const AffineStepArgs& a, at::Tensor& h, at::Tensor& out) {
  check_affine_step_args(a, h);
  check_fused_step_call("affine_scan_step_cuda", affine_scan_step_cuda_supports(a, h), "state", kMaxKeyDim, a.q, a.v,
                        out);
#ifdef SCANLAB_WITH_CUDA
  auto q = a.q.contiguous(), k = a.k.contiguous(), v = a.v.contiguous();
  at::Tensor log_a = a.log_a.defined() ? a.log_a.contiguous() : at::Tensor();
  cuda::AffineStepParams p;
  p.batch_heads = a.q.size(0) * a.q.size(1);
  p.dk = static_cast<int>(a.q.size(2));
  p.dv = static_cast<int>(a.v.size(2));
  p.gate = !log_a.defined() ? cuda::kGateIdentity : (log_a.dim() == 2 ? cuda::kGateScalar : cuda::kGateDiagonal);
  p.q = q.data_ptr<float>();
  p.k = k.data_ptr<float>();
  p.v = v.data_ptr<float>();
  p.log_a = log_a.defined() ? log_a.data_ptr<float>() : nullptr;
  p.state = h.data_ptr<float>();
  p.out = out.data_ptr<float>();
  check_launch(cuda::launch_affine_scan_step(p, at::cuda::getCurrentCUDAStream().stream()), "affine_scan_step_cuda");
#endif
}

at::Tensor affine_scan_step(const AffineStepArgs& a, at::Tensor& h) {
  return route_fused_step(a, h, {a.q, a.k, a.v, a.log_a}, affine_float32, affine_scan_step_cuda_supports,
                          affine_scan_step_cuda, affine_scan_step_torch);
}

bool mlstm_step_cuda_supports(const MlstmStepArgs& a, const MlstmState& s) {
  return kCudaBuild && a.q.defined() && a.q.dim() == 3 && a.q.size(2) <= kMaxKeyDim &&
         fused_step_eligible({a.q, a.k, a.v, a.log_f, a.log_i}, {s.C, s.n, s.m});
}

void mlstm_step_cuda(const MlstmStepArgs& a, MlstmState& s, at::Tensor& out) {
  check_mlstm_step_args(a, s);
  check_fused_step_call("mlstm_step_cuda", mlstm_step_cuda_supports(a, s), "state (C, n, m)", kMaxKeyDim, a.q, a.v,
                        out);
#ifdef SCANLAB_WITH_CUDA
  auto q = a.q.contiguous(), k = a.k.contiguous(), v = a.v.contiguous();
  auto log_f = a.log_f.contiguous(), log_i = a.log_i.contiguous();
  cuda::MlstmStepParams p;
  p.batch_heads = a.q.size(0) * a.q.size(1);
  p.dk = static_cast<int>(a.q.size(2));
  p.dv = static_cast<int>(a.v.size(2));
  p.q = q.data_ptr<float>();
  p.k = k.data_ptr<float>();
  p.v = v.data_ptr<float>();
  p.log_f = log_f.data_ptr<float>();
  p.log_i = log_i.data_ptr<float>();
  p.C = s.C.data_ptr<float>();
  p.n = s.n.data_ptr<float>();
  p.m = s.m.data_ptr<float>();
  p.out = out.data_ptr<float>();
  check_launch(cuda::launch_mlstm_step(p, at::cuda::getCurrentCUDAStream().stream()), "mlstm_step_cuda");
#endif
}

at::Tensor mlstm_step(const MlstmStepArgs& a, MlstmState& s) {
  return route_fused_step(a, s, {a.q, a.k, a.v, a.log_f, a.log_i}, mlstm_float32, mlstm_step_cuda_supports,
                          mlstm_step_cuda, mlstm_step_torch);
}

}  // namespace scanlab::ops
