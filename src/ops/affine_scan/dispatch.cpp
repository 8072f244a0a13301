// The only file of this op that knows both devices: it routes a call to the CUDA kernel where
// supports() accepts the arguments and to the device-generic torch path otherwise.
#include <ATen/core/grad_mode.h>

#include "core/check.h"
#include "ops/affine_scan/affine_scan.h"

#ifdef SCANLAB_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>

#include "ops/affine_scan/cuda/launch.h"
#endif

namespace scanlab::ops {

AffineScanOut affine_scan_chunked(const AffineScanArgs& a) { return affine_scan_chunked_torch(a); }

bool affine_scan_step_cuda_supports(const AffineStepArgs& a, const at::Tensor& h) {
#ifdef SCANLAB_WITH_CUDA
  const auto on = [&](const at::Tensor& t) {
    return t.is_cuda() && t.scalar_type() == at::kFloat && t.device() == a.q.device();
  };
  if (!on(a.q) || !on(a.k) || !on(a.v) || !on(h) || !h.is_contiguous()) return false;
  if (a.log_a.defined() && !on(a.log_a)) return false;
  return a.q.dim() == 3 && a.q.size(2) <= cuda::kMaxStepKeyDim;
#else
  (void)a;
  (void)h;
  return false;
#endif
}

void affine_scan_step_cuda(const AffineStepArgs& a, at::Tensor& h, at::Tensor& out) {
  check_affine_step_args(a, h);
  SCANLAB_CHECK(affine_scan_step_cuda_supports(a, h),
                "affine_scan_step_cuda: unsupported arguments; expected float32 CUDA tensors on one device, ",
                "a contiguous state and K <= 1024, in a build with SCANLAB_WITH_CUDA");
#ifdef SCANLAB_WITH_CUDA
  const int64_t B = a.q.size(0), H = a.q.size(1), K = a.q.size(2), V = a.v.size(2);
  SCANLAB_CHECK(out.defined() && out.is_cuda() && out.scalar_type() == at::kFloat && out.is_contiguous() &&
                    out.sizes() == at::IntArrayRef({B, H, V}),
                "affine_scan_step_cuda: out must be a contiguous float32 CUDA tensor [", B, ", ", H, ", ", V, "]");
  auto q = a.q.contiguous(), k = a.k.contiguous(), v = a.v.contiguous();
  at::Tensor log_a = a.log_a.defined() ? a.log_a.contiguous() : at::Tensor();
  cuda::AffineStepParams p;
  p.batch_heads = B * H;
  p.dk = static_cast<int>(K);
  p.dv = static_cast<int>(V);
  p.gate = !log_a.defined() ? cuda::kGateIdentity : (log_a.dim() == 2 ? cuda::kGateScalar : cuda::kGateDiagonal);
  p.q = q.data_ptr<float>();
  p.k = k.data_ptr<float>();
  p.v = v.data_ptr<float>();
  p.log_a = log_a.defined() ? log_a.data_ptr<float>() : nullptr;
  p.state = h.data_ptr<float>();
  p.out = out.data_ptr<float>();
  const cudaError_t err = cuda::launch_affine_scan_step(p, at::cuda::getCurrentCUDAStream().stream());
  SCANLAB_CHECK(err == cudaSuccess, "affine_scan_step_cuda: kernel launch failed: ", cudaGetErrorString(err));
#else
  (void)out;
#endif
}

at::Tensor affine_scan_step(const AffineStepArgs& a, at::Tensor& h) {
  // The kernel has no backward: it serves decoding, and autograd callers take the torch path.
  const bool needs_grad = at::GradMode::is_enabled() &&
                          (a.q.requires_grad() || a.k.requires_grad() || a.v.requires_grad() || h.requires_grad() ||
                           (a.log_a.defined() && a.log_a.requires_grad()));
  if (!needs_grad && affine_scan_step_cuda_supports(a, h)) {
    at::Tensor out = at::empty({a.q.size(0), a.q.size(1), a.v.size(2)}, a.q.options());
    affine_scan_step_cuda(a, h, out);
    return out;
  }
  return affine_scan_step_torch(a, h);
}

}  // namespace scanlab::ops
