// The route every fused decode step takes (affine_scan_step, mlstm_step, delta_rule_step), written
// once so that the three ops agree on when their CUDA kernel runs. A step goes to its kernel only
// when all of these hold, and to the op's torch step otherwise:
//   - the build has the kernels (kCudaBuild);
//   - the state is a float32 CUDA tensor: a float64 model on the GPU keeps the torch step and skips
//     the casts below;
//   - autograd has nothing to record: the kernels have no backward (they serve decoding);
//   - the op's supports() accepts the inputs cast to float32 (any float dtype goes to the kernel as
//     float32) and the state made contiguous (the kernel updates it in place; a state left strided
//     by a torch-path prefill is copied once, and later steps find it dense).
// The kernel's float32 output comes back in q's dtype. Each family's dispatch.cpp keeps under
// `#ifdef SCANLAB_WITH_CUDA` only what names its cuda/launch.h: the launch (the kernels' POD params)
// and the kernel's key-dim limit.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <initializer_list>
#include <vector>

#include "core/check.h"
#include "ops/op_common.h"

namespace scanlab::ops {

#ifdef SCANLAB_WITH_CUDA
constexpr bool kCudaBuild = true;
#else
constexpr bool kCudaBuild = false;
#endif

// The tensors of a step's state, the first deciding the route (its device and dtype). A state of
// several tensors (mLSTM's C, n, m) declares its own overload beside its dispatcher, in this
// namespace, where route_fused_step finds it by argument-dependent lookup.
inline std::vector<at::Tensor*> state_tensors(at::Tensor& h) { return {&h}; }

// One decode step by the route above. `inputs`: every input tensor of `a` (for the gradient check);
// to_float32(a) returns `a` with its tensors as float32 (ops::float32, undefined stays undefined);
// supports(args, state), launch(args, state, out [B, H, V]) and torch_step(args, state) are the
// op's *_cuda_supports, *_cuda and *_step_torch. Args has q [B, H, K] and v [B, H, V].
template <class Args, class State, class ToFloat32, class Supports, class Launch, class TorchStep>
at::Tensor route_fused_step(const Args& a, State& state, std::initializer_list<at::Tensor> inputs, ToFloat32 to_float32,
                            Supports supports, Launch launch, TorchStep torch_step) {
  const std::vector<at::Tensor*> parts = state_tensors(state);
  const auto needs_grad = [&] {
    bool any = step_needs_grad(inputs);
    for (const at::Tensor* t : parts) any = any || step_needs_grad({*t});
    return any;
  };
  const at::Tensor& lead = *parts.front();
  if (kCudaBuild && lead.is_cuda() && lead.scalar_type() == at::kFloat && !needs_grad()) {
    const Args f = to_float32(a);
    for (at::Tensor* t : parts) *t = t->contiguous();
    if (supports(f, state)) {
      at::Tensor out = at::empty({f.q.size(0), f.q.size(1), f.v.size(2)}, f.q.options());
      launch(f, state, out);
      return out.to(a.q.scalar_type());
    }
  }
  return torch_step(a, state);
}

// The checks each *_cuda step makes before it launches, after its argument checks: `supported` is
// its supports() on these arguments, and out must be the [B, H, V] float32 output (B, H from
// q [B, H, K], V from v [B, H, V]). The message names the state ("state", "state (C, n, m)") and the
// kernel's key-dim limit, a constant of the family's cuda/launch.h (unused without the kernels).
inline void check_fused_step_call(const char* op, bool supported, const char* state, int64_t max_key_dim,
                                  const at::Tensor& q, const at::Tensor& v, const at::Tensor& out) {
  if (kCudaBuild)
    SCANLAB_CHECK(supported, op, ": unsupported arguments; expected float32 CUDA tensors on one device, a contiguous ",
                  state, " and K <= ", max_key_dim);
  else
    SCANLAB_CHECK(supported, op, ": this build has no CUDA kernels (built without SCANLAB_WITH_CUDA)");
  check_step_out(op, out, q.size(0), q.size(1), v.size(2));
}

}  // namespace scanlab::ops
