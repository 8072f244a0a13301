// Routing between the fused CUDA kernels and the device-generic torch paths: a decode step goes to its
// fused kernel, the chunked form of an identity or scalar gate to chunk_gate_cuda.cpp's kernels and
// that of a vector (per-key) gate to chunk_vector_gate_cuda.cpp's, where supports() accepts the
// arguments. With those two files, the only ones of this op that know both devices.
#include <atomic>

#include "core/check.h"
#include "ops/affine_scan/affine_scan.h"
#include "ops/affine_scan/diagonal_scan.h"
#include "ops/affine_scan/mlstm.h"
#include "ops/op_common.h"

#ifdef SCANLAB_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>

#include "ops/affine_scan/cuda/launch.h"
#endif

namespace scanlab::ops {

namespace {
std::atomic<bool> g_fused_chunked{true};
}  // namespace

void set_fused_chunked_kernels(bool on) { g_fused_chunked = on; }
bool fused_chunked_kernels() { return g_fused_chunked; }

AffineScanOut affine_scan_chunked(const AffineScanArgs& a) {
  // A diagonal gate with a narrow value (Mamba/S6: one head per channel, V = 1) makes the chunked
  // form build [s, s, K] decays per head for O(s·K) work per token against the token loop's O(K·V):
  // 16x more at V = 1, and its temporaries grow with the channel count. V = 1 takes the fused scan
  // (diagonal_scan.h); other narrow V the token loop, which computes the same function (it is the
  // reference) with T small launches instead.
  check_affine_scan_args(a);
  if (g_fused_chunked && affine_scan_chunked_cuda_supports(a)) return affine_scan_chunked_cuda(a);
  if (g_fused_chunked && affine_scan_chunked_vector_gate_cuda_supports(a))
    return affine_scan_chunked_vector_gate_cuda(a);
  if (affine_scan_diagonal_v1_supports(a)) return affine_scan_diagonal_v1(a);
  if (gate_kind(a.log_a, 3) == GateKind::Diagonal && a.v.size(3) < kTokenLoopMaxValueDim) return affine_scan_ref(a);
  return affine_scan_chunked_torch(a);
}

namespace {

#ifdef SCANLAB_WITH_CUDA
constexpr bool kCudaBuild = true;
constexpr int64_t kMaxKeyDim = cuda::kMaxStepKeyDim;

void check_launch(const char* op, cudaError_t err) {
  SCANLAB_CHECK(err == cudaSuccess, op, ": kernel launch failed: ", cudaGetErrorString(err));
}
#else
constexpr bool kCudaBuild = false;
constexpr int64_t kMaxKeyDim = 0;
#endif

}  // namespace

bool affine_scan_step_cuda_supports(const AffineStepArgs& a, const at::Tensor& h) {
  return kCudaBuild && a.q.defined() && a.q.dim() == 3 && a.q.size(2) <= kMaxKeyDim &&
         fused_step_eligible({a.q, a.k, a.v, a.log_a}, {h});
}

void affine_scan_step_cuda(const AffineStepArgs& a, at::Tensor& h, at::Tensor& out) {
  check_affine_step_args(a, h);
  SCANLAB_CHECK(affine_scan_step_cuda_supports(a, h),
                "affine_scan_step_cuda: unsupported arguments; expected float32 CUDA tensors on one device, ",
                "a contiguous state and K <= 1024, in a build with SCANLAB_WITH_CUDA");
  const int64_t B = a.q.size(0), H = a.q.size(1), V = a.v.size(2);
  check_step_out("affine_scan_step_cuda", out, B, H, V);
#ifdef SCANLAB_WITH_CUDA
  auto q = a.q.contiguous(), k = a.k.contiguous(), v = a.v.contiguous();
  at::Tensor log_a = a.log_a.defined() ? a.log_a.contiguous() : at::Tensor();
  cuda::AffineStepParams p;
  p.batch_heads = B * H;
  p.dk = static_cast<int>(a.q.size(2));
  p.dv = static_cast<int>(V);
  p.gate = !log_a.defined() ? cuda::kGateIdentity : (log_a.dim() == 2 ? cuda::kGateScalar : cuda::kGateDiagonal);
  p.q = q.data_ptr<float>();
  p.k = k.data_ptr<float>();
  p.v = v.data_ptr<float>();
  p.log_a = log_a.defined() ? log_a.data_ptr<float>() : nullptr;
  p.state = h.data_ptr<float>();
  p.out = out.data_ptr<float>();
  check_launch("affine_scan_step_cuda", cuda::launch_affine_scan_step(p, at::cuda::getCurrentCUDAStream().stream()));
#endif
}

at::Tensor affine_scan_step(const AffineStepArgs& a, at::Tensor& h) {
  // The kernels have no backward: they serve decoding, and autograd callers take the torch path.
  // Only a float32 state can take the kernel (a float64 model on CUDA skips the casts below). Inputs
  // of any float dtype go to it as float32, and a state left strided by a torch-path prefill is made
  // contiguous once.
  if (kCudaBuild && h.is_cuda() && h.scalar_type() == at::kFloat && !step_needs_grad({a.q, a.k, a.v, a.log_a, h})) {
    const AffineStepArgs f{float32(a.q), float32(a.k), float32(a.v), float32(a.log_a)};
    h = h.contiguous();
    if (affine_scan_step_cuda_supports(f, h)) {
      at::Tensor out = at::empty({f.q.size(0), f.q.size(1), f.v.size(2)}, f.q.options());
      affine_scan_step_cuda(f, h, out);
      return out.to(a.q.scalar_type());
    }
  }
  return affine_scan_step_torch(a, h);
}

bool mlstm_step_cuda_supports(const MlstmStepArgs& a, const MlstmState& s) {
  return kCudaBuild && a.q.defined() && a.q.dim() == 3 && a.q.size(2) <= kMaxKeyDim &&
         fused_step_eligible({a.q, a.k, a.v, a.log_f, a.log_i}, {s.C, s.n, s.m});
}

void mlstm_step_cuda(const MlstmStepArgs& a, MlstmState& s, at::Tensor& out) {
  check_mlstm_step_args(a, s);
  SCANLAB_CHECK(mlstm_step_cuda_supports(a, s),
                "mlstm_step_cuda: unsupported arguments; expected float32 CUDA tensors on one device, ",
                "a contiguous state (C, n, m) and K <= 1024, in a build with SCANLAB_WITH_CUDA");
  const int64_t B = a.q.size(0), H = a.q.size(1), V = a.v.size(2);
  check_step_out("mlstm_step_cuda", out, B, H, V);
#ifdef SCANLAB_WITH_CUDA
  auto q = a.q.contiguous(), k = a.k.contiguous(), v = a.v.contiguous();
  auto log_f = a.log_f.contiguous(), log_i = a.log_i.contiguous();
  cuda::MlstmStepParams p;
  p.batch_heads = B * H;
  p.dk = static_cast<int>(a.q.size(2));
  p.dv = static_cast<int>(V);
  p.q = q.data_ptr<float>();
  p.k = k.data_ptr<float>();
  p.v = v.data_ptr<float>();
  p.log_f = log_f.data_ptr<float>();
  p.log_i = log_i.data_ptr<float>();
  p.C = s.C.data_ptr<float>();
  p.n = s.n.data_ptr<float>();
  p.m = s.m.data_ptr<float>();
  p.out = out.data_ptr<float>();
  check_launch("mlstm_step_cuda", cuda::launch_mlstm_step(p, at::cuda::getCurrentCUDAStream().stream()));
#endif
}

at::Tensor mlstm_step(const MlstmStepArgs& a, MlstmState& s) {
  if (kCudaBuild && s.C.is_cuda() && s.C.scalar_type() == at::kFloat &&
      !step_needs_grad({a.q, a.k, a.v, a.log_f, a.log_i, s.C, s.n, s.m})) {
    const MlstmStepArgs f{float32(a.q), float32(a.k), float32(a.v), float32(a.log_f), float32(a.log_i)};
    s = {s.C.contiguous(), s.n.contiguous(), s.m.contiguous()};
    if (mlstm_step_cuda_supports(f, s)) {
      at::Tensor out = at::empty({f.q.size(0), f.q.size(1), f.v.size(2)}, f.q.options());
      mlstm_step_cuda(f, s, out);
      return out.to(a.q.scalar_type());
    }
  }
  return mlstm_step_torch(a, s);
}

}  // namespace scanlab::ops
