// (Gated) delta rule: checks, step, reference loop, chunked WY/UT form and Blelloch path.
#include <vector>

#include "core/check.h"
#include "ops/affine_scan/affine_scan.h"
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
DeltaRuleOut delta_rule_chunked(const DeltaRuleArgs& a) {
  check_delta_rule_args(a);
  const int64_t B = a.q.size(0), T = a.q.size(1), H = a.q.size(2), V = a.v.size(3);
  const auto sd = state_dtype(a.q.scalar_type());
  auto q = a.q.to(sd).transpose(1, 2), k = a.k.to(sd).transpose(1, 2), v = a.v.to(sd).transpose(1, 2);
  auto beta = a.beta.to(sd).transpose(1, 2);                                   // [B, H, T]
  auto log_a = a.log_a.defined() ? a.log_a.to(sd).transpose(1, 2) : at::zeros({B, H, T}, q.options());
  at::Tensor h = initial_state(a, sd);
  const int64_t cl = a.chunk_len;
  const auto qs = chunk_slices(q, 2, cl), ks = chunk_slices(k, 2, cl), vs = chunk_slices(v, 2, cl),
             betas = chunk_slices(beta, 2, cl), log_as = chunk_slices(log_a, 2, cl);
  std::vector<at::Tensor> outs;
  for (size_t ci = 0; ci < qs.size(); ++ci) {
    const at::Tensor &qc = qs[ci], &kc = ks[ci], &vc = vs[ci];
    const int64_t c = qc.size(2);
    auto bc = betas[ci].unsqueeze(-1);                                         // [B, H, c, 1]
    auto g = log_as[ci].cumsum(2);                                             // [B, H, c]
    auto decay = masked_exp(g.unsqueeze(3) - g.unsqueeze(2), causal_mask(c, true, q.device()));  // [B, H, c, c]
    auto strict = causal_mask(c, /*inclusive=*/false, q.device());
    auto A = at::where(strict, bc * at::matmul(kc, kc.transpose(-1, -2)) * decay, at::zeros({}, q.options()));
    auto eye = at::eye(c, q.options());
    // One solve for both right-hand sides: [βV | βγK].
    auto rhs = at::cat({bc * vc, bc * g.exp().unsqueeze(-1) * kc}, -1);
    auto sol = at::linalg_solve_triangular(eye + A, rhs, /*upper=*/false, /*left=*/true, /*unitriangular=*/true);
    auto U = sol.narrow(-1, 0, V) - at::matmul(sol.narrow(-1, V, sol.size(-1) - V), h);  // [B, H, c, V]
    auto scores = at::matmul(qc, kc.transpose(-1, -2)) * decay;
    outs.push_back(at::matmul(qc * g.exp().unsqueeze(-1), h) + at::matmul(scores, U));
    auto g_last = g.select(2, c - 1).unsqueeze(-1);                            // [B, H, 1]
    auto k_state = kc * (g_last - g).exp().unsqueeze(-1);
    h = h * g_last.exp().unsqueeze(-1) + at::matmul(k_state.transpose(-1, -2), U);
  }
  return {at::cat(outs, 2).transpose(1, 2).to(a.q.scalar_type()), h};
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
