// The only file of this op that knows both devices: it routes a decode step to the fused CUDA kernel
// where supports() accepts the arguments, and to the device-generic torch step otherwise.
#include "core/check.h"
#include "ops/delta_rule/delta_rule.h"
#include "ops/op_common.h"

#ifdef SCANLAB_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>

#include "ops/delta_rule/cuda/launch.h"
#endif

namespace scanlab::ops {

bool delta_rule_step_cuda_supports(const DeltaRuleStepArgs& a, const at::Tensor& h) {
#ifdef SCANLAB_WITH_CUDA
  return a.q.defined() && a.q.dim() == 3 && a.q.size(2) <= cuda::kMaxDeltaKeyDim &&
         fused_step_eligible({a.q, a.k, a.v, a.beta, a.log_a}, {h});
#else
  (void)a;
  (void)h;
  return false;
#endif
}

void delta_rule_step_cuda(const DeltaRuleStepArgs& a, at::Tensor& h, at::Tensor& out) {
  check_delta_rule_step_args(a, h);
  SCANLAB_CHECK(delta_rule_step_cuda_supports(a, h),
                "delta_rule_step_cuda: unsupported arguments; expected float32 CUDA tensors on one device, ",
                "a contiguous state and K <= 256, in a build with SCANLAB_WITH_CUDA");
  const int64_t B = a.q.size(0), H = a.q.size(1), V = a.v.size(2);
  check_step_out("delta_rule_step_cuda", out, B, H, V);
#ifdef SCANLAB_WITH_CUDA
  auto q = a.q.contiguous(), k = a.k.contiguous(), v = a.v.contiguous(), beta = a.beta.contiguous();
  at::Tensor log_a = a.log_a.defined() ? a.log_a.contiguous() : at::Tensor();
  cuda::DeltaStepParams p;
  p.batch_heads = B * H;
  p.dk = static_cast<int>(a.q.size(2));
  p.dv = static_cast<int>(V);
  p.q = q.data_ptr<float>();
  p.k = k.data_ptr<float>();
  p.v = v.data_ptr<float>();
  p.beta = beta.data_ptr<float>();
  p.log_a = log_a.defined() ? log_a.data_ptr<float>() : nullptr;
  p.state = h.data_ptr<float>();
  p.out = out.data_ptr<float>();
  const cudaError_t err = cuda::launch_delta_rule_step(p, at::cuda::getCurrentCUDAStream().stream());
  SCANLAB_CHECK(err == cudaSuccess, "delta_rule_step_cuda: kernel launch failed: ", cudaGetErrorString(err));
#endif
}

at::Tensor delta_rule_step(const DeltaRuleStepArgs& a, at::Tensor& h) {
  // As affine_scan_step: float32 inputs to the kernel, a strided state made contiguous once.
  if (h.is_cuda() && h.scalar_type() == at::kFloat && !step_needs_grad({a.q, a.k, a.v, a.beta, a.log_a, h})) {
    const DeltaRuleStepArgs f{float32(a.q), float32(a.k), float32(a.v), float32(a.beta), float32(a.log_a)};
    h = h.contiguous();
    if (delta_rule_step_cuda_supports(f, h)) {
      at::Tensor out = at::empty({f.q.size(0), f.q.size(1), f.v.size(2)}, f.q.options());
      delta_rule_step_cuda(f, h, out);
      return out.to(a.q.scalar_type());
    }
  }
  return delta_rule_step_torch(a, h);
}

}  // namespace scanlab::ops
