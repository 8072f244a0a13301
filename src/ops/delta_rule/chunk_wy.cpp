// The fused chunked (gated) delta rule as one autograd Function with a hand-written backward. Its six
// stages run as CUDA kernels (cuda/delta_wy_fwd.cu, cuda/delta_wy_bwd.cu, and the recurrence kernel
// cuda/delta_chunk_recurrence.cu) for bf16 inputs on the GPU, or as the torch ops below on any device
// and dtype: the CPU tests run the latter in float64 against autograd of the token loop, which checks
// the backward's math (the kernels' .cu headers state the same formulas).
//   forward:  prepare (the UT transform per chunk), the recurrence walk, output
//   backward: output_backward, the recurrence walk from the last chunk, prepare_backward
// Both walks take the recurrence kernel's TF32 tensor-core variant where it is the faster one (the
// default; set_delta_walk_tf32(false) keeps float32 FMA): their operands come from bf16 inputs, which
// TF32 rounds finer than they are, and with 64 columns a block the walk took 15% off the forward
// where the blocks fill the GPU (docs/performance.md section 1f).
// β per chunk and the cumulative log gate inside each 64-token chunk are taken with torch ops before
// the Function (autograd turns its dL/dβ and dL/dg into dL/dβ and dL/dlog a by itself). The forward
// keeps for the backward what the recurrence walk produced and consumed (Y, K̃, γ, the float32 entering
// states and U), not X.
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>

#include "core/check.h"
#include "ops/affine_scan/affine_scan.h"
#include "ops/delta_rule/chunk_recurrence.h"
#include "ops/delta_rule/delta_rule.h"
#include "ops/op_common.h"

#ifdef SCANLAB_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>

#include "ops/affine_scan/chunk_kernel_host.h"
#include "ops/delta_rule/cuda/delta_chunk_recurrence_launch.h"
#include "ops/delta_rule/cuda/delta_wy_launch.h"
#endif

namespace scanlab::ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

constexpr int64_t kChunk = 64;  // the kernels' chunk (cuda::kGateChunk)
constexpr const char* kOp = "delta_rule_chunked_wy";

// ---- the stages as torch ops ----------------------------------------------------------------
// Every tensor [BH, NC, C, ·] (or [BH, NC, C] for β and g, [BH, NC, K, V] for states) in the state
// dtype; g is zeros without a gate. Names as in cuda/delta_wy_fwd.cu and cuda/delta_wy_bwd.cu.

struct Chunked {
  at::Tensor q, k, v, beta, g;
};

Chunked chunked(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& beta,
                const at::Tensor& g, at::ScalarType sd) {
  const int64_t B = q.size(0), H = q.size(2), NC = beta.size(2);
  auto flat = [&](const at::Tensor& x) { return to_chunks(x.to(sd), kChunk).reshape({B * H, NC, kChunk, x.size(3)}); };
  const at::Tensor b = beta.to(sd).reshape({B * H, NC, kChunk});
  return {flat(q), flat(k), flat(v), b, g.numel() ? g.to(sd).reshape({B * H, NC, kChunk}) : at::zeros_like(b)};
}

// e^{g_i - g_j} where j < i (strict) or j <= i, 0 elsewhere: [BH, NC, C, C].
at::Tensor decay(const at::Tensor& g, bool inclusive) {
  return masked_exp(g.unsqueeze(-1) - g.unsqueeze(-2), causal_mask(kChunk, inclusive, g.device()));
}

at::Tensor rows(const at::Tensor& x) { return x.unsqueeze(-1); }  // [.., C] -> [.., C, 1]
at::Tensor tr(const at::Tensor& x) { return x.transpose(-1, -2); }
at::Tensor last(const at::Tensor& g) { return g.narrow(-1, kChunk - 1, 1); }  // G, [.., 1]

struct Ut {
  at::Tensor E, T;  // E_ij = e^{g_i-g_j} k_i·k_j (j < i); T = (I + diag(β) E)^{-1}
};

Ut ut_transform(const Chunked& c) {
  const at::Tensor E = at::matmul(c.k, tr(c.k)) * decay(c.g, /*inclusive=*/false);
  const at::Tensor eye = at::eye(kChunk, c.k.options());
  const at::Tensor T = at::linalg_solve_triangular(eye + rows(c.beta) * E, eye, /*upper=*/false,
                                                   /*left=*/true, /*unitriangular=*/true);
  return {E, T};
}

struct Prepared {
  at::Tensor x, y, k_state, gamma;
};

Prepared prepare_torch(const Chunked& c) {
  const Ut ut = ut_transform(c);
  return {at::matmul(ut.T, rows(c.beta) * c.v), at::matmul(ut.T, rows(c.beta * c.g.exp()) * c.k),
          rows((last(c.g) - c.g).exp()) * c.k, last(c.g).squeeze(-1).exp()};
}

at::Tensor output_torch(const Chunked& c, const at::Tensor& states, const at::Tensor& u) {
  return rows(c.g.exp()) * at::matmul(c.q, states) + at::matmul(at::matmul(c.q, tr(c.k)) * decay(c.g, true), u);
}

struct OutputGrads {
  at::Tensor dq, dk_part, dg_part, dstate_in, du;
};

OutputGrads output_backward_torch(const Chunked& c, const at::Tensor& states, const at::Tensor& u,
                                  const at::Tensor& d_o) {
  const at::Tensor M = decay(c.g, true);
  const at::Tensor S = at::matmul(c.q, tr(c.k)) * M, dP = at::matmul(d_o, tr(u)) * M;
  const at::Tensor dq = rows(c.g.exp()) * at::matmul(d_o, tr(states)) + at::matmul(dP, c.k);
  const at::Tensor dk = at::matmul(tr(dP), c.q);
  return {dq, dk, (c.q * dq).sum(-1) - (c.k * dk).sum(-1), at::matmul(tr(rows(c.g.exp()) * c.q), d_o),
          at::matmul(tr(S), d_o)};
}

struct PrepareGrads {
  at::Tensor dk, dv, dbeta, dg;
};

// dx = dL/dU_n in total, dstates = D_n = dL/dh_{n+1} (the backward walk's results).
PrepareGrads prepare_backward_torch(const Chunked& c, const at::Tensor& states, const at::Tensor& u,
                                    const at::Tensor& dx, const at::Tensor& dstates, const OutputGrads& og) {
  const at::Tensor dy = -at::matmul(dx, tr(states)), dkt = at::matmul(u, tr(dstates));
  const at::Tensor dgamma = (dstates * states).sum({-2, -1});  // [BH, NC]
  const Ut ut = ut_transform(c);
  const at::Tensor e_g = c.g.exp(), e_rest = (last(c.g) - c.g).exp(), bg = c.beta * e_g;
  const at::Tensor bv = rows(c.beta) * c.v, bk = rows(bg) * c.k;
  const at::Tensor dbv = at::matmul(tr(ut.T), dx), dbk = at::matmul(tr(ut.T), dy);
  const at::Tensor dT = (at::matmul(dx, tr(bv)) + at::matmul(dy, tr(bk))).tril(-1);
  const at::Tensor dA = -at::matmul(at::matmul(tr(ut.T), dT), tr(ut.T)).tril(-1);
  const at::Tensor P = dA * rows(c.beta) * decay(c.g, false);
  const at::Tensor dAE = dA * ut.E;  // R = diag(β) dAE
  const at::Tensor row_a = dAE.sum(-1), col_r = (rows(c.beta) * dAE).sum(-2);
  const at::Tensor dot_bk = (c.k * dbk).sum(-1), dot_kt = e_rest * (c.k * dkt).sum(-1);
  const at::Tensor dk = og.dk_part + rows(e_rest) * dkt + rows(bg) * dbk + at::matmul(P, c.k) + at::matmul(tr(P), c.k);
  at::Tensor dg = og.dg_part + bg * dot_bk + c.beta * row_a - col_r - dot_kt;
  dg.narrow(-1, kChunk - 1, 1).add_(dot_kt.sum(-1, true) + last(c.g).exp() * dgamma.unsqueeze(-1));
  return {dk, rows(c.beta) * dbv, (c.v * dbv).sum(-1) + e_g * dot_bk + row_a, dg};
}

// The backward walk (chunk_recurrence.h): from D = dh_final, per chunk n from the last:
// dstates[n] = D, dx[n] = du[n] + K̃_n D, D <- γ_n D - Y_nᵀ dx[n] + dstate_in[n]; returns dh0.
at::Tensor backward_walk_torch(const Prepared& pr, const at::Tensor& du, const at::Tensor& dstate_in,
                               const at::Tensor& dh_final, at::Tensor& dstates, at::Tensor& dx) {
  at::Tensor D = dh_final;
  for (int64_t n = pr.y.size(1) - 1; n >= 0; --n) {
    dstates.select(1, n).copy_(D);
    const at::Tensor w = du.select(1, n) + at::matmul(pr.k_state.select(1, n), D);
    dx.select(1, n).copy_(w);
    D = rows(pr.gamma.select(1, n)).unsqueeze(-1) * D - at::matmul(tr(pr.y.select(1, n)), w) + dstate_in.select(1, n);
  }
  return D;
}

// [BH, NC, C, X] -> [B, T, H, X] in `dtype`.
at::Tensor unchunked(const at::Tensor& x, int64_t B, int64_t H, int64_t T, at::ScalarType dtype) {
  return from_chunks(x.reshape({B, H, x.size(1), kChunk, x.size(3)}), T).to(dtype);
}

#ifdef SCANLAB_WITH_CUDA
using namespace chunk_kernels;  // tensors into the kernels' params (ops/affine_scan/chunk_kernel_host.h)
#endif

class DeltaRuleWyFunction : public torch::autograd::Function<DeltaRuleWyFunction> {
 public:
  // q, k [B, T, H, K], v [B, T, H, V] (bf16 for the kernels); beta [B, H, NC, 64] and g [B, H, NC, 64]
  // (empty: no gate) in the state dtype; h0 [B, H, K, V] (empty: zeros) in the state dtype.
  static variable_list forward(AutogradContext* ctx, const at::Tensor& q_in, const at::Tensor& k_in,
                               const at::Tensor& v_in, const at::Tensor& beta_in, const at::Tensor& g_in,
                               const at::Tensor& h0_in, bool use_kernels, bool poison) {
    ctx->saved_data["use_kernels"] = use_kernels;
    ctx->saved_data["poison"] = poison;
    ctx->saved_data["has_h0"] = h0_in.numel() > 0;
    const bool walk_tf32 = delta_walk_tf32();  // the backward walks as the forward did
    ctx->saved_data["walk_tf32"] = walk_tf32;
    const int64_t B = q_in.size(0), T = q_in.size(1), H = q_in.size(2), K = q_in.size(3), V = v_in.size(3);
    const int64_t BH = B * H, NC = beta_in.size(2);
    const at::Tensor beta = beta_in.contiguous(), g = g_in.contiguous();
    if (!use_kernels) {
      const auto sd = beta.scalar_type();
      const Chunked c = chunked(q_in, k_in, v_in, beta, g, sd);
      const Prepared pr = prepare_torch(c);
      const at::Tensor h0 = h0_in.numel() ? h0_in.reshape({BH, K, V}) : at::zeros({BH, K, V}, beta.options());
      const DeltaChunkStates rec = delta_chunk_recurrence_loop({pr.x, pr.y, pr.k_state, pr.gamma, h0});
      const at::Tensor o = unchunked(output_torch(c, rec.entering, rec.u), B, H, T, q_in.scalar_type());
      ctx->save_for_backward({q_in, k_in, v_in, beta, g, pr.y, pr.k_state, pr.gamma, rec.entering, rec.u});
      return {o, rec.final.reshape({B, H, K, V})};
    }
#ifdef SCANLAB_WITH_CUDA
    const at::Tensor q = kernel_ready(q_in), k = kernel_ready(k_in), v = kernel_ready(v_in), h0 = kernel_ready(h0_in);
    const auto d = dims_of(q, v);
    const auto f32 = q.options().dtype(at::kFloat);
    const at::Tensor x = output({BH, NC, kChunk, V}, f32, poison), y = output({BH, NC, kChunk, K}, f32, poison);
    const at::Tensor k_state = output({BH, NC, kChunk, K}, f32, poison), gamma = output({BH, NC}, f32, poison);
    const at::Tensor states = output({BH, NC, K, V}, f32, poison), u = output({BH, NC, kChunk, V}, f32, poison);
    const at::Tensor h_final = output({B, H, K, V}, f32, poison), o = output({B, T, H, V}, q.options(), poison);
    cuda::DeltaWyForwardParams p;
    set_inputs(p, d, q, k, v, g);
    p.beta = beta.data_ptr<float>();
    p.x = x.data_ptr<float>();
    p.y = y.data_ptr<float>();
    p.k_state = k_state.data_ptr<float>();
    p.gamma = gamma.data_ptr<float>();
    p.states = states.data_ptr<float>();
    p.u = u.data_ptr<float>();
    p.o = o.data_ptr();
    const cudaStream_t stream = at::cuda::getCurrentCUDAStream().stream();
    check_launch(cuda::launch_delta_wy_prepare(p, stream), kOp, "the prepare kernel");
    delta_chunk_recurrence_launch({x, y, k_state, gamma, h0, at::Tensor(), -1.0, 1.0, /*reverse=*/false, walk_tf32},
                                  states, u, h_final);
    check_launch(cuda::launch_delta_wy_output(p, stream), kOp, "the output kernel");
    ctx->save_for_backward({q, k, v, beta, g, y, k_state, gamma, states, u});
    return {o, h_final};
#else
    (void)NC;
    SCANLAB_FAIL(kOp, ": the CUDA kernels are not in this build");
    return {};
#endif
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &q = saved[0], &k = saved[1], &v = saved[2], &beta = saved[3], &g = saved[4];
    const Prepared pr{at::Tensor(), saved[5], saved[6], saved[7]};
    const at::Tensor &states = saved[8], &u = saved[9];
    const bool poison = ctx->saved_data["poison"].toBool(), has_h0 = ctx->saved_data["has_h0"].toBool();
    const int64_t B = q.size(0), T = q.size(1), H = q.size(2), K = q.size(3), V = v.size(3);
    const int64_t BH = B * H;
    if (!ctx->saved_data["use_kernels"].toBool()) {
      const auto sd = beta.scalar_type();
      const Chunked c = chunked(q, k, v, beta, g, sd);
      const at::Tensor d_o =
          grads[0].defined() ? to_chunks(grads[0].to(sd), kChunk).reshape({BH, -1, kChunk, V}) : at::zeros_like(u);
      const at::Tensor dh_final =
          grads[1].defined() ? grads[1].to(sd).reshape({BH, K, V}) : at::zeros({BH, K, V}, u.options());
      const OutputGrads og = output_backward_torch(c, states, u, d_o);
      at::Tensor dstates = at::empty_like(states), dx = at::empty_like(u);
      const at::Tensor dh0 = backward_walk_torch(pr, og.du, og.dstate_in, dh_final, dstates, dx);
      const PrepareGrads pg = prepare_backward_torch(c, states, u, dx, dstates, og);
      return {unchunked(og.dq, B, H, T, q.scalar_type()),
              unchunked(pg.dk, B, H, T, k.scalar_type()),
              unchunked(pg.dv, B, H, T, v.scalar_type()),
              pg.dbeta.reshape(beta.sizes()),
              g.numel() ? pg.dg.reshape(g.sizes()) : at::Tensor(),
              has_h0 ? dh0.reshape({B, H, K, V}) : at::Tensor(),
              at::Tensor(),
              at::Tensor()};
    }
#ifdef SCANLAB_WITH_CUDA
    const auto d = dims_of(q, v);
    const auto f32 = q.options().dtype(at::kFloat);
    const at::Tensor d_o =
        grads[0].defined() ? kernel_ready(grads[0].to(at::kBFloat16)) : at::zeros({B, T, H, V}, q.options());
    const at::Tensor dh_final =
        grads[1].defined() ? kernel_ready(grads[1].to(at::kFloat).reshape({BH, K, V})) : at::Tensor();
    const at::Tensor dq = output(q.sizes(), q.options(), poison), dk = output(k.sizes(), k.options(), poison);
    const at::Tensor dv = output(v.sizes(), v.options(), poison);
    const at::Tensor dk_part = output(pr.y.sizes(), f32, poison), du = output(u.sizes(), f32, poison);
    const at::Tensor dstate_in = output(states.sizes(), f32, poison), dstates = output(states.sizes(), f32, poison);
    const at::Tensor dx = output(u.sizes(), f32, poison), dbeta = output(beta.sizes(), f32, poison);
    const at::Tensor dh0 = output({B, H, K, V}, f32, poison);
    const at::Tensor dg_part = g.numel() ? output(g.sizes(), f32, poison) : at::Tensor();
    const at::Tensor dg = g.numel() ? output(g.sizes(), f32, poison) : at::Tensor();
    cuda::DeltaWyBackwardParams p;
    set_inputs(p, d, q, k, v, g);
    p.beta = beta.data_ptr<float>();
    p.states = states.data_ptr<float>();
    p.u = u.data_ptr<float>();
    p.d_o = d_o.data_ptr();
    p.dq = dq.data_ptr();
    p.dk_part = dk_part.data_ptr<float>();
    p.dg_part = data_or_null(dg_part);
    p.dstate_in = dstate_in.data_ptr<float>();
    p.du = du.data_ptr<float>();
    p.dx = dx.data_ptr<float>();
    p.dstates = dstates.data_ptr<float>();
    p.dk = dk.data_ptr();
    p.dv = dv.data_ptr();
    p.dbeta = dbeta.data_ptr<float>();
    p.dg = data_or_null(dg);
    const cudaStream_t stream = at::cuda::getCurrentCUDAStream().stream();
    check_launch(cuda::launch_delta_wy_output_backward(p, stream), kOp, "the output backward kernel");
    // From the last chunk: dstates[n] = D_n = dL/dh_{n+1}, dx = dL/dU_n in total, final = dL/dh0.
    delta_chunk_recurrence_launch({du, pr.k_state, pr.y, pr.gamma, dh_final, dstate_in, 1.0, -1.0, /*reverse=*/true,
                                   ctx->saved_data["walk_tf32"].toBool()},
                                  dstates, dx, dh0);
    check_launch(cuda::launch_delta_wy_prepare_backward(p, stream), kOp, "the prepare backward kernel");
    return {dq, dk, dv, dbeta, g.numel() ? dg : at::Tensor(), has_h0 ? dh0 : at::Tensor(), at::Tensor(), at::Tensor()};
#else
    (void)poison;
    SCANLAB_FAIL(kOp, ": the CUDA kernels are not in this build");
    return {};
#endif
  }
};

DeltaRuleOut apply(const DeltaRuleArgs& a, bool use_kernels, bool poison) {
  // β per chunk (the padding after the last token has β = 0) and the cumulative log gate inside each
  // chunk (the padding adds log a = 0), in the state dtype.
  const auto sd = use_kernels ? at::kFloat : state_dtype(a.q.scalar_type());
  const auto opts = a.q.options().dtype(sd);
  const at::Tensor beta = to_chunks(a.beta.to(sd), kChunk);
  const at::Tensor g = a.log_a.defined() ? to_chunks(a.log_a.to(sd), kChunk).cumsum(3) : at::empty({0}, opts);
  const at::Tensor h0 = a.h0.defined() ? a.h0.to(sd) : at::empty({0}, opts);
  auto out = DeltaRuleWyFunction::apply(a.q, a.k, a.v, beta, g, h0, use_kernels, poison);
  return {out[0], out[1]};
}

}  // namespace

namespace {
std::atomic<bool> g_walk_tf32{true};
}  // namespace

void set_delta_walk_tf32(bool on) { g_walk_tf32 = on; }
bool delta_walk_tf32() { return g_walk_tf32; }

bool delta_rule_chunked_wy_cuda_supports(const DeltaRuleArgs& a) {
#ifdef SCANLAB_WITH_CUDA
  if (!a.q.defined() || !a.k.defined() || !a.v.defined() || !a.beta.defined() || !a.q.is_cuda() || a.q.dim() != 4 ||
      a.v.dim() != 4)
    return false;
  for (const at::Tensor* t : {&a.q, &a.k, &a.v})
    if (t->scalar_type() != at::kBFloat16 || t->device() != a.q.device()) return false;
  for (const at::Tensor* t : {&a.beta, &a.log_a, &a.h0})
    if (t->defined() && (t->device() != a.q.device() || !at::isFloatingType(t->scalar_type()))) return false;
  const int64_t B = a.q.size(0), T = a.q.size(1), H = a.q.size(2), K = a.q.size(3), V = a.v.size(3);
  if (!cuda::chunk_gate_supported(static_cast<int>(K), static_cast<int>(V))) return false;
  // Block counts (B·H·NC, and the walk's B·H·V/16) within the kernels' int; offsets are 64-bit there.
  const int64_t NC = (T + kChunk - 1) / kChunk;
  if (T < 1 || B * H * NC >= (int64_t{1} << 31) || B * H * V >= (int64_t{1} << 31)) return false;
  const auto* prop = at::cuda::getDeviceProperties(a.q.device().index());
  const size_t need = std::max(cuda::delta_wy_smem_bytes(static_cast<int>(K), static_cast<int>(V)),
                               cuda::delta_chunk_recurrence_smem_bytes(static_cast<int>(K)));
  return prop->major >= 8 && prop->sharedMemPerBlockOptin >= need;  // bf16 tensor cores, cp.async
#else
  (void)a;
  return false;
#endif
}

DeltaRuleOut delta_rule_chunked_wy_cuda(const DeltaRuleArgs& a, bool poison_outputs) {
  check_delta_rule_args(a);
  SCANLAB_CHECK(delta_rule_chunked_wy_cuda_supports(a),
                "delta_rule_chunked_wy_cuda: unsupported arguments; expected bfloat16 q, k, v on one CUDA device of "
                "compute capability 8.0 or later with enough shared memory, K and V of 64 or 128, in a build with "
                "SCANLAB_WITH_CUDA");
  return apply(a, /*use_kernels=*/true, poison_outputs);
}

DeltaRuleOut delta_rule_chunked_wy_torch(const DeltaRuleArgs& a) {
  check_delta_rule_args(a);
  return apply(a, /*use_kernels=*/false, false);
}

}  // namespace scanlab::ops
