// The fused CUDA path of the chunked affine scan for identity and scalar gates (cuda/chunk_gate.cu),
// wired into autograd. The cumulative log gate inside each 64-token chunk is taken with torch ops
// before the kernels (so autograd turns the kernels' dL/dg into dL/dlog a by itself); the kernels
// take everything else: the pass over chunk states, the outputs, and in the backward the pass over
// state gradients and the input gradients. The forward saves the bf16 state entering each chunk for
// the backward (NC·K·V per head, about what q, k and v take at K = V = 128) instead of recomputing it.
// With few heads and long sequences both state passes are split over the sequence
// (cuda::chunk_gate_segments, from the device's SM count; tests force a count).
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <cstdint>

#include "core/check.h"
#include "ops/affine_scan/affine_scan.h"
#include "ops/op_common.h"

#ifdef SCANLAB_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>

#include "ops/affine_scan/chunk_kernel_host.h"
#include "ops/affine_scan/cuda/chunk_gate_launch.h"
#endif

namespace scanlab::ops {

#ifdef SCANLAB_WITH_CUDA
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
using namespace chunk_kernels;

// The state passes' segment count on q's device (`requested` > 0: that many, at most one per chunk)
// and their scratch, which the params get.
template <typename Params>
at::Tensor set_segments(Params& p, const at::Tensor& q, int64_t requested, bool poison) {
  const int sms = at::cuda::getDeviceProperties(q.device().index())->multiProcessorCount;
  p.segments = cuda::chunk_gate_segments(p.d, sms, static_cast<int>(requested));
  if (p.segments == 1) return at::Tensor();
  at::Tensor scratch =
      output({cuda::chunk_gate_scratch_floats(p.d, p.segments)}, q.options().dtype(at::kFloat), poison);
  p.scratch = scratch.data_ptr<float>();
  return scratch;
}

class ChunkGateFunction : public torch::autograd::Function<ChunkGateFunction> {
 public:
  // q, k [B, T, H, K] and v [B, T, H, V] bf16; g [B, H, NC, 64] float32, or empty for the identity
  // gate; h0 [B, H, K, V] float32, or empty for zeros; segments: of the state passes, 0 for the
  // device's choice.
  static variable_list forward(AutogradContext* ctx, const at::Tensor& q_in, const at::Tensor& k_in,
                               const at::Tensor& v_in, const at::Tensor& g_in, const at::Tensor& h0_in, bool poison,
                               int64_t segments) {
    const at::Tensor q = kernel_ready(q_in), k = kernel_ready(k_in), v = kernel_ready(v_in);
    const at::Tensor g = g_in.contiguous(), h0 = h0_in.contiguous();
    const auto d = dims_of(q, v);
    const auto f32 = q.options().dtype(at::kFloat);
    at::Tensor states = output({d.batch, d.heads, d.chunks(), d.dk, d.dv}, q.options(), poison);
    at::Tensor h_final = output({d.batch, d.heads, d.dk, d.dv}, f32, poison);
    at::Tensor o = output({d.batch, d.tokens, d.heads, d.dv}, q.options(), poison);
    cuda::ChunkGateForwardParams p;
    set_inputs(p, d, q, k, v, g);
    p.h0 = data_or_null(h0);
    p.states = states.data_ptr();
    p.h_final = h_final.data_ptr<float>();
    p.o = o.data_ptr();
    const at::Tensor scratch = set_segments(p, q, segments, poison);
    check_launch(cuda::launch_chunk_gate_forward(p, at::cuda::getCurrentCUDAStream().stream()),
                 "affine_scan_chunked_cuda", "the forward kernels");
    ctx->save_for_backward({q, k, v, g, states});
    ctx->saved_data["poison"] = poison;
    ctx->saved_data["segments"] = segments;
    ctx->saved_data["has_h0"] = h0.numel() > 0;
    return {o, h_final};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &q = saved[0], &k = saved[1], &v = saved[2], &g = saved[3], &states = saved[4];
    const bool poison = ctx->saved_data["poison"].toBool();
    const auto d = dims_of(q, v);
    const auto f32 = q.options().dtype(at::kFloat);
    const at::Tensor d_o = grads[0].defined() ? kernel_ready(grads[0].to(at::kBFloat16))
                                              : at::zeros({d.batch, d.tokens, d.heads, d.dv}, q.options());
    const at::Tensor dh_final = grads[1].defined() ? grads[1].to(at::kFloat).contiguous() : at::Tensor();
    at::Tensor dstates = output(states.sizes(), q.options(), poison);
    at::Tensor dh0 = output({d.batch, d.heads, d.dk, d.dv}, f32, poison);
    at::Tensor dq = output(q.sizes(), q.options(), poison), dk = output(k.sizes(), k.options(), poison);
    at::Tensor dv = output(v.sizes(), v.options(), poison);
    at::Tensor dg = g.numel() ? output(g.sizes(), f32, poison) : at::Tensor();
    cuda::ChunkGateBackwardParams p;
    set_inputs(p, d, q, k, v, g);
    p.states = states.data_ptr();
    p.d_o = d_o.data_ptr();
    p.dh_final = data_or_null(dh_final);
    p.dstates = dstates.data_ptr();
    p.dh0 = dh0.data_ptr<float>();
    p.dq = dq.data_ptr();
    p.dk = dk.data_ptr();
    p.dv = dv.data_ptr();
    p.dg = data_or_null(dg);
    const at::Tensor scratch = set_segments(p, q, ctx->saved_data["segments"].toInt(), poison);
    check_launch(cuda::launch_chunk_gate_backward(p, at::cuda::getCurrentCUDAStream().stream()),
                 "affine_scan_chunked_cuda", "the backward kernels");
    return {dq, dk, dv, dg, ctx->saved_data["has_h0"].toBool() ? dh0 : at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace
#endif

bool affine_scan_chunked_cuda_supports(const AffineScanArgs& a) {
#ifdef SCANLAB_WITH_CUDA
  if (!a.q.defined() || !a.k.defined() || !a.v.defined() || !a.q.is_cuda() || a.q.dim() != 4 || a.v.dim() != 4)
    return false;
  for (const at::Tensor* t : {&a.q, &a.k, &a.v})
    if (t->scalar_type() != at::kBFloat16 || t->device() != a.q.device()) return false;
  if (a.log_a.defined() && (a.log_a.dim() != 3 || a.log_a.device() != a.q.device())) return false;
  if (a.h0.defined() && a.h0.device() != a.q.device()) return false;
  if (!cuda::chunk_gate_supported(static_cast<int>(a.q.size(3)), static_cast<int>(a.v.size(3)))) return false;
  // Sizes and block counts (B·H·NC) stay within the kernels' int; element offsets are 64-bit there.
  const int64_t B = a.q.size(0), T = a.q.size(1), H = a.q.size(2);
  const int64_t NC = (T + cuda::kGateChunk - 1) / cuda::kGateChunk;
  if (T < 1 || B * H * NC >= (int64_t{1} << 31)) return false;
  return at::cuda::getDeviceProperties(a.q.device().index())->major >= 8;  // bf16 tensor cores
#else
  (void)a;
  return false;
#endif
}

int affine_scan_chunked_cuda_segments(const AffineScanArgs& a, int requested) {
  SCANLAB_CHECK(affine_scan_chunked_cuda_supports(a),
                "affine_scan_chunked_cuda_segments: unsupported arguments (see affine_scan_chunked_cuda_supports)");
#ifdef SCANLAB_WITH_CUDA
  const int sms = at::cuda::getDeviceProperties(a.q.device().index())->multiProcessorCount;
  return cuda::chunk_gate_segments(dims_of(a.q, a.v), sms, requested);
#else
  (void)requested;
  return 0;
#endif
}

AffineScanOut affine_scan_chunked_cuda(const AffineScanArgs& a, bool poison_outputs, int state_segments) {
  check_affine_scan_args(a);
  SCANLAB_CHECK(affine_scan_chunked_cuda_supports(a),
                "affine_scan_chunked_cuda: unsupported arguments; expected bfloat16 q, k, v on one CUDA device of "
                "compute capability 8.0 or later, K and V of 64 or 128, an identity or scalar gate, in a build "
                "with SCANLAB_WITH_CUDA");
#ifdef SCANLAB_WITH_CUDA
  // The cumulative log gate inside each chunk; the padding after the last token adds log a = 0.
  const at::Tensor g = a.log_a.defined() ? to_chunks(a.log_a.to(at::kFloat), cuda::kGateChunk).cumsum(3)
                                         : at::empty({0}, a.q.options().dtype(at::kFloat));
  const at::Tensor h0 = a.h0.defined() ? a.h0.to(at::kFloat) : at::empty({0}, a.q.options().dtype(at::kFloat));
  auto out = ChunkGateFunction::apply(a.q, a.k, a.v, g, h0, poison_outputs, static_cast<int64_t>(state_segments));
  return {out[0], out[1]};
#else
  (void)poison_outputs;
  (void)state_segments;
  return {};
#endif
}

}  // namespace scanlab::ops
