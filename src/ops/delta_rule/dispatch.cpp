// The only file of this op that knows both devices: it routes a decode step to the fused CUDA kernel
// where supports() accepts the arguments, and to the device-generic torch step otherwise
// (ops/fused_step.h: the route the three fused steps share).
#include "core/check.h"
#include "ops/delta_rule/delta_rule.h"
#include "ops/fused_step.h"
#include "ops/op_common.h"

#ifdef SCANLAB_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>

#include "ops/delta_rule/cuda/launch.h"
#include "ops/launch_check.h"
#endif

namespace scanlab::ops {

namespace {

#ifdef SCANLAB_WITH_CUDA
constexpr int64_t kMaxKeyDim = cuda::kMaxDeltaKeyDim;
#else
constexpr int64_t kMaxKeyDim = 0;  // no kernel: supports() is false
#endif

DeltaRuleStepArgs delta_float32(const DeltaRuleStepArgs& a) {
  return {float32(a.q), float32(a.k), float32(a.v), float32(a.beta), float32(a.log_a)};
}

}  // namespace

bool delta_rule_step_cuda_supports(const DeltaRuleStepArgs& a, const at::Tensor& h) {
  return kCudaBuild && a.q.defined() && a.q.dim() == 3 && a.q.size(2) <= kMaxKeyDim &&
         fused_step_eligible({a.q, a.k, a.v, a.beta, a.log_a}, {h});
}

void delta_rule_step_cuda(const DeltaRuleStepArgs& a, at::Tensor& h, at::Tensor& out) {
  check_delta_rule_step_args(a, h);
  check_fused_step_call("delta_rule_step_cuda", delta_rule_step_cuda_supports(a, h), "state", kMaxKeyDim, a.q, a.v,
                        out);
#ifdef SCANLAB_WITH_CUDA
  auto q = a.q.contiguous(), k = a.k.contiguous(), v = a.v.contiguous(), beta = a.beta.contiguous();
  at::Tensor log_a = a.log_a.defined() ? a.log_a.contiguous() : at::Tensor();
  cuda::DeltaStepParams p;
  p.batch_heads = a.q.size(0) * a.q.size(1);
  p.dk = static_cast<int>(a.q.size(2));
  p.dv = static_cast<int>(a.v.size(2));
  p.q = q.data_ptr<float>();
  p.k = k.data_ptr<float>();
  p.v = v.data_ptr<float>();
  p.beta = beta.data_ptr<float>();
  p.log_a = log_a.defined() ? log_a.data_ptr<float>() : nullptr;
  p.state = h.data_ptr<float>();
  p.out = out.data_ptr<float>();
  check_launch(cuda::launch_delta_rule_step(p, at::cuda::getCurrentCUDAStream().stream()), "delta_rule_step_cuda");
#endif
}

at::Tensor delta_rule_step(const DeltaRuleStepArgs& a, at::Tensor& h) {
  return route_fused_step(a, h, {a.q, a.k, a.v, a.beta, a.log_a}, delta_float32, delta_rule_step_cuda_supports,
                          delta_rule_step_cuda, delta_rule_step_torch);
}

}  // namespace scanlab::ops
