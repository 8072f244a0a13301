// (Gated) delta rule: checks, step, reference loop, chunked WY/UT form and Blelloch path.
#include <vector>

#include "core/check.h"
#include "ops/affine_scan/affine_scan.h"
#include "ops/delta_rule/chunk_recurrence.h"
#include "ops/delta_rule/delta_rule.h"
#include "ops/op_common.h"
#include "scan/tensor_state.h"

namespace scanlab::ops {

void check_delta_rule_args(const DeltaRuleArgs& a) {
  const std::string op = "delta_rule";
  const auto [B, T, H, K, V] = check_qkv(op, a.q, a.k, a.v);
  check_shape(op, "beta", a.beta, {B, T, H});
  if (a.log_a.defined()) check_shape(op, "log_a", a.log_a, {B, T, H});
  if (a.h0.defined()) check_shape(op, "h0", a.h0, {B, H, K, V});
  check_float_on(op, "beta", a.beta, a.q.device());
  SCANLAB_CHECK(a.chunk_len >= 1, op, ": chunk_len is ", a.chunk_len, "; expected >= 1");
}

void check_delta_rule_step_args(const DeltaRuleStepArgs& a, const at::Tensor& h) {
  SCANLAB_CHECK(a.q.defined() && a.q.dim() == 3 && a.v.defined() && a.v.dim() == 3, "delta_rule_step: q must be ",
                "[B, H, K] and v [B, H, V]");
  const int64_t B = a.q.size(0), H = a.q.size(1), K = a.q.size(2), V = a.v.size(2);
  check_shape("delta_rule_step", "k", a.k, {B, H, K});
  check_shape("delta_rule_step", "beta", a.beta, {B, H});
  check_shape("delta_rule_step", "h", h, {B, H, K, V});
  if (a.log_a.defined()) check_shape("delta_rule_step", "log_a", a.log_a, {B, H});
}

at::Tensor delta_rule_step_torch(const DeltaRuleStepArgs& a, at::Tensor& h) {
  check_delta_rule_step_args(a, h);
  const auto sd = h.scalar_type();
  auto q = a.q.to(sd), k = a.k.to(sd), v = a.v.to(sd), beta = a.beta.to(sd).unsqueeze(-1);
  // 1. gate: h <- α h;  2. delta: u = β (v - hᵀk), h <- h + k uᵀ;  3. read: o = hᵀq
  at::Tensor decayed = a.log_a.defined() ? h * a.log_a.to(sd).exp().unsqueeze(-1).unsqueeze(-1) : h;
  auto u = beta * (v - (k.unsqueeze(-1) * decayed).sum(-2));
  h = decayed + k.unsqueeze(-1) * u.unsqueeze(-2);
  return (q.unsqueeze(-1) * h).sum(-2).to(a.q.scalar_type());
}

namespace {

at::Tensor initial_state(const DeltaRuleArgs& a, at::ScalarType sd) {
  if (a.h0.defined()) return a.h0.to(sd);
  return at::zeros({a.q.size(0), a.q.size(2), a.q.size(3), a.v.size(3)}, a.q.options().dtype(sd));
}

}  // namespace

DeltaRuleOut delta_rule_ref(const DeltaRuleArgs& a) {
  check_delta_rule_args(a);
  at::Tensor h = initial_state(a, state_dtype(a.q.scalar_type()));
  const int64_t T = a.q.size(1);
  const auto q = time_slices(a.q, 1, T), k = time_slices(a.k, 1, T), v = time_slices(a.v, 1, T),
             beta = time_slices(a.beta, 1, T), log_a = time_slices(a.log_a, 1, T);
  std::vector<at::Tensor> o;
  for (int64_t t = 0; t < T; ++t) o.push_back(delta_rule_step_torch({q[t], k[t], v[t], beta[t], log_a[t]}, h));
  return {at::stack(o, 1), h};
}

// Per chunk, with g the cumulative log gate (γ_i = exp(g_i)) and h the state entering the chunk, the
// step's corrections u_i = β_i (v_i - α_i h_{i-1}ᵀ k_i) solve the unit lower-triangular system
//   (I + A) U = βV - (βγ ⊙ K) h,   A_ij = β_i exp(g_i - g_j) k_i·k_j  (j < i)
// and then o_i = γ_i hᵀq_i + Σ_{j<=i} exp(g_i - g_j) (q_i·k_j) u_j,  h <- γ_c h + Σ_j exp(g_c - g_j) k_j u_jᵀ.
// With (I + A)[X | Y] = [βV | βγK] solved for every chunk at once, U_n = X_n - Y_n h_n: the state
// recurrence h_{n+1} = γ_C h_n + K̃_nᵀ (X_n - Y_n h_n) is the one sequential piece
// (delta_chunk_recurrence: one CUDA kernel launch a direction for float32 states on the GPU, two small
// batched products per chunk elsewhere); the scores, the solve and both output products are batched
// over all chunks. Padded tokens have k = v = 0 and β = 0, so they add nothing.
namespace {

DeltaRuleOut delta_rule_chunked_impl(const DeltaRuleArgs& a, bool allow_kernel) {
  check_delta_rule_args(a);
  const int64_t T = a.q.size(1), C = a.chunk_len, K = a.q.size(3), V = a.v.size(3);
  const auto sd = state_dtype(a.q.scalar_type()), md = matmul_dtype(a.q.scalar_type());
  const at::Tensor q = to_chunks(a.q.to(md), C), k = to_chunks(a.k.to(md), C), v = to_chunks(a.v.to(md), C);
  const int64_t B = q.size(0), H = q.size(1), NC = q.size(2);
  const at::Tensor beta = to_chunks(a.beta.to(sd), C).unsqueeze(-1);  // [B, H, NC, C, 1]
  const at::Tensor g = a.log_a.defined() ? to_chunks(a.log_a.to(sd), C).cumsum(3)
                                         : at::zeros({B, H, NC, C}, beta.options());  // [B, H, NC, C]
  const at::Tensor decay = masked_exp(g.unsqueeze(4) - g.unsqueeze(3), causal_mask(C, true, q.device()));
  const at::Tensor kk = at::matmul(k, k.transpose(-1, -2)).to(sd);
  const at::Tensor A =
      at::where(causal_mask(C, /*inclusive=*/false, q.device()), beta * kk * decay, at::zeros({}, beta.options()));
  const at::Tensor ks = k.to(sd);
  // One solve for both right-hand sides: [βV | βγK].
  const at::Tensor rhs = at::cat({beta * v.to(sd), beta * g.exp().unsqueeze(-1) * ks}, -1);
  const at::Tensor sol = at::linalg_solve_triangular(at::eye(C, beta.options()) + A, rhs, /*upper=*/false,
                                                     /*left=*/true, /*unitriangular=*/true);
  const at::Tensor g_last = g.select(3, C - 1);                                    // [B, H, NC]
  const at::Tensor k_state = ks * (g_last.unsqueeze(-1) - g).exp().unsqueeze(-1);  // [B, H, NC, C, K]
  // The sequential pass over chunks on [B*H, NC, ...] views (X and Y stay views into the solution).
  auto flat = [&](const at::Tensor& x) { return x.reshape({B * H, NC, x.size(3), x.size(4)}); };
  const at::Tensor h0 = (a.h0.defined() ? a.h0.to(sd) : at::zeros({B, H, K, V}, beta.options())).reshape({B * H, K, V});
  const DeltaChunkInputs rec_in{flat(sol.narrow(-1, 0, V)), flat(sol.narrow(-1, V, K)), flat(k_state),
                                g_last.exp().reshape({B * H, NC}), h0};
  const DeltaChunkStates rec = allow_kernel ? delta_chunk_recurrence(rec_in) : delta_chunk_recurrence_loop(rec_in);
  const at::Tensor Hn = rec.entering.view({B, H, NC, K, V}), Un = rec.u.view({B, H, NC, C, V});
  const at::Tensor scores = at::matmul(q, k.transpose(-1, -2)).to(sd) * decay;
  const at::Tensor o =
      at::matmul((q.to(sd) * g.exp().unsqueeze(-1)).to(md), Hn.to(md)) + at::matmul(scores.to(md), Un.to(md));
  return {from_chunks(o, T).to(a.q.scalar_type()), rec.final.view({B, H, K, V})};
}

}  // namespace

DeltaRuleOut delta_rule_chunked(const DeltaRuleArgs& a) {
  if (fused_chunked_kernels() && delta_rule_chunked_wy_cuda_supports(a)) return delta_rule_chunked_wy_cuda(a);
  return delta_rule_chunked_impl(a, /*allow_kernel=*/true);
}

DeltaRuleOut delta_rule_chunked_torch(const DeltaRuleArgs& a) {
  return delta_rule_chunked_impl(a, /*allow_kernel=*/false);
}

bool delta_rule_chunked_cuda_supports(const DeltaRuleArgs& a) {
  if (!a.q.defined() || a.q.dim() != 4 || !a.v.defined() || a.v.dim() != 4 || !a.q.is_cuda() ||
      state_dtype(a.q.scalar_type()) != at::kFloat || a.chunk_len < 1)
    return false;
  // One chunk of one head stands in for the recurrence's inputs: the kernel's decision rests on the
  // dtype, the device and C, K, V alone.
  const auto f = a.q.options().dtype(at::kFloat);
  const int64_t C = a.chunk_len, K = a.q.size(3), V = a.v.size(3);
  return delta_chunk_recurrence_cuda_supports({at::empty({1, 1, C, V}, f), at::empty({1, 1, C, K}, f),
                                               at::empty({1, 1, C, K}, f), at::empty({1, 1}, f),
                                               at::empty({1, K, V}, f)});
}

// Pairs (E_t, f_t) = (α_t (I - β_t k_t k_tᵀ), β_t k_t v_tᵀ) with E acting by left matmul on [K, V]:
// Agg((E_a, f_a), (E_b, f_b)) = (E_b E_a, f_b + E_b f_a); h_t = f_{0..t} + E_{0..t} h0.
DeltaRuleOut delta_rule_blelloch(const DeltaRuleArgs& a) {
  check_delta_rule_args(a);
  const int64_t T = a.q.size(1), K = a.q.size(3);
  const auto sd = state_dtype(a.q.scalar_type());
  auto q = a.q.to(sd), k = a.k.to(sd), v = a.v.to(sd), beta = a.beta.to(sd);
  const auto eye = at::eye(K, q.options());
  std::vector<scan::TensorState> pairs;
  for (int64_t t = 0; t < T; ++t) {
    auto kt = k.select(1, t), bt = beta.select(1, t).unsqueeze(-1).unsqueeze(-1);  // [B, H, K], [B, H, 1, 1]
    auto E = eye - bt * kt.unsqueeze(-1) * kt.unsqueeze(-2);
    if (a.log_a.defined()) E = E * a.log_a.to(sd).select(1, t).exp().unsqueeze(-1).unsqueeze(-1);
    pairs.push_back({E, bt * kt.unsqueeze(-1) * v.select(1, t).unsqueeze(-2)});
  }
  scan::TensorAgg agg = [](const scan::TensorState& older, const scan::TensorState& newer) {
    return scan::TensorState{at::matmul(newer[0], older[0]), newer[1] + at::matmul(newer[0], older[1])};
  };
  auto prefixes = scan::tensor_blelloch_scan(pairs, agg, scan::ScanKind::Inclusive);
  const at::Tensor h0 = initial_state(a, sd);
  std::vector<at::Tensor> o;
  at::Tensor h;
  for (int64_t t = 0; t < T; ++t) {
    const auto& p = *prefixes[t];
    h = p[1] + at::matmul(p[0], h0);
    o.push_back((q.select(1, t).unsqueeze(-1) * h).sum(-2));
  }
  return {at::stack(o, 1).to(a.q.scalar_type()), h};
}

}  // namespace scanlab::ops
