// The delta rule's inter-chunk recurrence (chunk_recurrence.h): the torch loop, and an autograd
// Function whose forward and hand-written backward are walks over the chunks, each one CUDA kernel
// launch (cuda/delta_chunk_recurrence.cu) for float32 CUDA inputs or a torch loop elsewhere.
// Backward, with D = dL/dh_{n+1} carried from D = dL/dh_NC and the output gradients dH_n, dU_n:
//   W_n = dU_n + K̃_n D             (dL/dU_n in total; = dL/dX_n)
//   dY_n = -W_n h_nᵀ,  dK̃_n = U_n Dᵀ,  dγ_n = <D, h_n>
//   D <- γ_n D - Y_nᵀ W_n + dH_n    (dL/dh_n; after the first chunk, dL/dh0)
// The walk is the forward's with (X, P, Q, signs) = (dU, K̃, Y, +, -) and dH added to the state, so
// one kernel serves both; it emits D per chunk and W, and the products that are not sequential
// (dY, dK̃, dγ) are batched torch ops afterwards.
#include "ops/delta_rule/chunk_recurrence.h"

#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "core/check.h"
#include "ops/op_common.h"

#ifdef SCANLAB_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>

#include "ops/delta_rule/cuda/delta_chunk_recurrence_launch.h"
#include "ops/launch_check.h"
#endif

namespace scanlab::ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

void check_inputs(const DeltaChunkInputs& in) {
  const std::string op = "delta_chunk_recurrence";
  SCANLAB_CHECK(in.x.defined() && in.x.dim() == 4 && in.y.defined() && in.y.dim() == 4, op,
                ": x must be [BH, NC, C, V] and y [BH, NC, C, K]");
  const int64_t BH = in.x.size(0), NC = in.x.size(1), C = in.x.size(2), V = in.x.size(3), K = in.y.size(3);
  check_shape(op, "y", in.y, {BH, NC, C, K});
  check_shape(op, "k_state", in.k_state, {BH, NC, C, K});
  check_shape(op, "gamma", in.gamma, {BH, NC});
  check_shape(op, "h0", in.h0, {BH, K, V});
  for (const at::Tensor* t : {&in.y, &in.k_state, &in.gamma, &in.h0})
    SCANLAB_CHECK(t->scalar_type() == in.x.scalar_type() && t->device() == in.x.device(), op,
                  ": every input must have x's dtype ", in.x.scalar_type(), " and device ", in.x.device(), "; got ",
                  t->scalar_type(), " on ", t->device());
  SCANLAB_CHECK(at::isFloatingType(in.x.scalar_type()), op, ": expected a floating dtype; got ", in.x.scalar_type());
}

// One walk (the kernel's, cuda/delta_chunk_recurrence_launch.h): s <- init; per chunk n of the walk,
// states[n] = s, W_n = X_n + sign_p P_n s, s <- γ_n s + sign_q Q_nᵀ W_n + R_n; final = s.
// x and r may be undefined (zeros).
struct Walk {
  at::Tensor states, w, final;
};

using WalkArgs = DeltaWalkOperands;  // the kernel's operands (chunk_recurrence.h), read by both walks

Walk walk_torch(const WalkArgs& a) {
  const int64_t BH = a.p.size(0), NC = a.p.size(1), C = a.p.size(2), K = a.p.size(3), V = a.init.size(2);
  Walk out{at::empty({BH, NC, K, V}, a.init.options()), at::empty({BH, NC, C, V}, a.init.options()), {}};
  at::Tensor s = a.init;
  for (int64_t i = 0; i < NC; ++i) {
    const int64_t n = a.reverse ? NC - 1 - i : i;
    out.states.select(1, n).copy_(s);
    const at::Tensor p = a.p.select(1, n);
    const at::Tensor w = a.x.defined() ? at::baddbmm(a.x.select(1, n), p, s, 1, a.sign_p) : at::bmm(p, s) * a.sign_p;
    out.w.select(1, n).copy_(w);
    s = at::baddbmm(s * a.gamma.select(1, n).view({BH, 1, 1}), a.q.select(1, n).transpose(1, 2), w, 1, a.sign_q);
    if (a.r.defined()) s = s + a.r.select(1, n);
  }
  out.final = s;
  return out;
}

#ifdef SCANLAB_WITH_CUDA
// Outputs and scratch: NaN-filled when `poison` (tests: proves the kernel writes every element).
at::Tensor output(at::IntArrayRef sizes, const at::TensorOptions& options, bool poison) {
  return poison ? at::full(sizes, NAN, options) : at::empty(sizes, options);
}

// The kernel moves rows in 16-byte vectors: unit stride in the last dim, the other strides multiples
// of 4 elements and a 16-byte aligned start; anything else is copied.
at::Tensor kernel_ready(const at::Tensor& t) {
  bool ok = t.stride(-1) == 1 && reinterpret_cast<std::uintptr_t>(t.data_ptr()) % 16 == 0;
  for (int64_t d = 0; d + 1 < t.dim(); ++d) ok = ok && t.stride(d) % 4 == 0;
  if (ok) return t;
  const at::Tensor c = t.contiguous();
  return reinterpret_cast<std::uintptr_t>(c.data_ptr()) % 16 == 0 ? c : c.clone();
}

Walk walk_cuda(const WalkArgs& a, bool poison) {
  const at::Tensor x = a.x.defined() ? kernel_ready(a.x) : at::Tensor(), p = kernel_ready(a.p), q = kernel_ready(a.q);
  const at::Tensor gamma = a.gamma.contiguous(), init = kernel_ready(a.init.contiguous());
  const at::Tensor r = a.r.defined() ? kernel_ready(a.r.contiguous()) : at::Tensor();
  const int64_t BH = p.size(0), NC = p.size(1), C = p.size(2), K = p.size(3), V = init.size(2);
  Walk out{output({BH, NC, K, V}, init.options(), poison), output({BH, NC, C, V}, init.options(), poison),
           output({BH, K, V}, init.options(), poison)};
  delta_chunk_recurrence_launch({x, p, q, gamma, init, r, a.sign_p, a.sign_q, a.reverse}, out.states, out.w, out.final);
  return out;
}
#endif

Walk walk(const WalkArgs& a, bool use_kernel, bool poison) {
#ifdef SCANLAB_WITH_CUDA
  if (use_kernel) return walk_cuda(a, poison);
#endif
  (void)use_kernel;
  (void)poison;
  return walk_torch(a);
}

class DeltaChunkRecurrenceFunction : public torch::autograd::Function<DeltaChunkRecurrenceFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& y,
                               const at::Tensor& k_state, const at::Tensor& gamma, const at::Tensor& h0,
                               bool use_kernel, bool poison) {
    const Walk f = walk({x, y, k_state, gamma, h0, {}, -1.0, 1.0, false}, use_kernel, poison);
    ctx->save_for_backward({y, k_state, gamma, f.states, f.w});
    ctx->saved_data["use_kernel"] = use_kernel;
    ctx->saved_data["poison"] = poison;
    return {f.states, f.w, f.final};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &y = saved[0], &k_state = saved[1], &gamma = saved[2], &entering = saved[3], &u = saved[4];
    const at::Tensor d_final = grads[2].defined() ? grads[2] : at::zeros_like(entering.select(1, 0));
    const Walk b = walk({grads[1], k_state, y, gamma, d_final, grads[0], 1.0, -1.0, true},
                        ctx->saved_data["use_kernel"].toBool(), ctx->saved_data["poison"].toBool());
    // b.states[n] = dL/dh_{n+1}, b.w[n] = dL/dU_n, b.final = dL/dh0.
    const at::Tensor dy = -at::matmul(b.w, entering.transpose(-1, -2));
    const at::Tensor dk_state = at::matmul(u, b.states.transpose(-1, -2));
    const at::Tensor dgamma = (b.states * entering).sum({-2, -1});
    return {b.w, dy, dk_state, dgamma, b.final, at::Tensor(), at::Tensor()};
  }
};

}  // namespace

void delta_chunk_recurrence_launch(const DeltaWalkOperands& a, const at::Tensor& states, const at::Tensor& w,
                                   const at::Tensor& final_state) {
#ifdef SCANLAB_WITH_CUDA
  auto operand = [](const at::Tensor& t) {
    cuda::DeltaRecOperand o;
    o.ptr = t.data_ptr<float>();
    o.bh_stride = t.stride(0);
    o.chunk_stride = t.stride(1);
    o.row_stride = t.stride(2);
    return o;
  };
  auto data_or_null = [](const at::Tensor& t) { return t.defined() && t.numel() ? t.data_ptr<float>() : nullptr; };
  cuda::DeltaChunkRecurrenceParams prm;
  prm.batch_heads = a.p.size(0);
  prm.chunks = static_cast<int>(a.p.size(1));
  prm.chunk_len = static_cast<int>(a.p.size(2));
  prm.dk = static_cast<int>(a.p.size(3));
  prm.dv = static_cast<int>(states.size(3));
  prm.reverse = a.reverse ? 1 : 0;
  prm.tf32 = a.tf32 ? 1 : 0;
  prm.tile_v = a.tf32_tile_v;
  prm.sign_p = static_cast<float>(a.sign_p);
  prm.sign_q = static_cast<float>(a.sign_q);
  if (a.x.defined()) prm.x = operand(a.x);
  prm.p = operand(a.p);
  prm.q = operand(a.q);
  prm.gamma = a.gamma.data_ptr<float>();
  prm.r = data_or_null(a.r);
  prm.init = data_or_null(a.init);
  prm.states = states.data_ptr<float>();
  prm.w = w.data_ptr<float>();
  prm.final_state = final_state.data_ptr<float>();
  check_launch(cuda::launch_delta_chunk_recurrence(prm, at::cuda::getCurrentCUDAStream().stream()),
               "delta_chunk_recurrence");
#else
  (void)a;
  (void)states;
  (void)w;
  (void)final_state;
  SCANLAB_FAIL("delta_chunk_recurrence_launch: this build has no CUDA kernels");
#endif
}

bool delta_chunk_recurrence_cuda_supports(const DeltaChunkInputs& in) {
#ifdef SCANLAB_WITH_CUDA
  for (const at::Tensor* t : {&in.x, &in.y, &in.k_state, &in.gamma, &in.h0})
    if (!t->defined() || !t->is_cuda() || t->scalar_type() != at::kFloat || t->device() != in.x.device()) return false;
  if (in.x.dim() != 4 || in.y.dim() != 4) return false;
  const int64_t BH = in.x.size(0), NC = in.x.size(1), C = in.x.size(2), V = in.x.size(3), K = in.y.size(3);
  if (!cuda::delta_chunk_recurrence_dims_supported(K, V, C)) return false;
  // Blocks (BH x V tiles) and chunk counts within the kernel's int; element offsets are 64-bit there.
  if (NC < 1 || NC >= (int64_t{1} << 31) ||
      BH * ((V + cuda::kDeltaRecTileV - 1) / cuda::kDeltaRecTileV) >= (int64_t{1} << 31))
    return false;
  const auto* prop = at::cuda::getDeviceProperties(in.x.device().index());
  return prop->major >= 8 &&  // cp.async
         prop->sharedMemPerBlockOptin >= cuda::delta_chunk_recurrence_smem_bytes(static_cast<int>(K));
#else
  (void)in;
  return false;
#endif
}

DeltaChunkStates delta_chunk_recurrence_loop(const DeltaChunkInputs& in) {
  check_inputs(in);
  // unbind-style slices (op_common.h): their backward stacks the pieces once.
  auto per_chunk = [](const at::Tensor& t) { return chunk_slices(t, 1, 1); };
  const auto X = per_chunk(in.x), Y = per_chunk(in.y), Kt = per_chunk(in.k_state.transpose(-1, -2)),
             gamma = per_chunk(in.gamma.unsqueeze(-1));  // [BH, 1, C, V], [BH, 1, C, K], [BH, 1, K, C], [BH, 1, 1]
  at::Tensor h = in.h0;
  std::vector<at::Tensor> entering, U;
  for (size_t n = 0; n < X.size(); ++n) {
    entering.push_back(h);
    U.push_back(at::baddbmm(X[n].squeeze(1), Y[n].squeeze(1), h, /*beta=*/1, /*alpha=*/-1));  // [BH, C, V]
    h = at::baddbmm(h * gamma[n], Kt[n].squeeze(1), U.back());
  }
  return {at::stack(entering, 1), at::stack(U, 1), h};
}

DeltaChunkStates delta_chunk_recurrence_walk(const DeltaChunkInputs& in, bool poison_outputs) {
  check_inputs(in);
  auto out = DeltaChunkRecurrenceFunction::apply(in.x, in.y, in.k_state, in.gamma, in.h0,
                                                 delta_chunk_recurrence_cuda_supports(in), poison_outputs);
  return {out[0], out[1], out[2]};
}

DeltaChunkStates delta_chunk_recurrence(const DeltaChunkInputs& in) {
  return delta_chunk_recurrence_cuda_supports(in) ? delta_chunk_recurrence_walk(in) : delta_chunk_recurrence_loop(in);
}

}  // namespace scanlab::ops
