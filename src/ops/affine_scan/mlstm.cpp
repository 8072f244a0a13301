// mLSTM: reference, step, chunked and Blelloch paths (see mlstm.h for the math).
// Internally the normalizer rides along as one extra value column: with v' = [v, 1] the state
// C' = [C | n] obeys the plain affine update C'_t = f_t C'_{t-1} + i_t k_t v'_tᵀ, and the readout
// q_tᵀ C'_t holds both the numerator and n_tᵀ q_t. A stabilized pair (C̃', m) means C' = exp(m) C̃'.
#include <limits>
#include <vector>

#include "core/check.h"
#include "ops/affine_scan/affine_scan.h"
#include "ops/affine_scan/mlstm.h"
#include "ops/chunk_state_pass.h"
#include "ops/op_common.h"
#include "scan/tensor_state.h"

namespace scanlab::ops {
namespace {

// The older stabilized state (C_a, m_a) carried through a log decay E_b, plus the newer (C_b, m_b):
// m = max(E_b + m_a, m_b), C = exp(E_b + m_a - m) C_a + exp(m_b - m) C_b. C: [N, H, K, V'], rest [N, H].
std::pair<at::Tensor, at::Tensor> merge(const at::Tensor& Ca, const at::Tensor& ma, const at::Tensor& Eb,
                                        const at::Tensor& Cb, const at::Tensor& mb) {
  auto carried = Eb + ma;
  auto m = at::maximum(carried, mb);
  auto w = [](const at::Tensor& x) { return x.exp().unsqueeze(-1).unsqueeze(-1); };
  return {w(carried - m) * Ca + w(mb - m) * Cb, m};
}

// o = num / max(|q·n|, exp(-m)) from the readout [..., V + 1] = [qᵀC̃ | qᵀñ] and m [...].
at::Tensor normalize(const at::Tensor& readout, const at::Tensor& m) {
  const int64_t V = readout.size(-1) - 1;
  auto den = at::maximum(readout.narrow(-1, V, 1).abs(), (-m).exp().unsqueeze(-1));
  return readout.narrow(-1, 0, V) / den;
}

at::Tensor augmented(const MlstmState& s) { return at::cat({s.C, s.n.unsqueeze(-1)}, -1); }

MlstmState split(const at::Tensor& Caug, const at::Tensor& m) {
  const int64_t V = Caug.size(-1) - 1;
  return {Caug.narrow(-1, 0, V), Caug.select(-1, V), m};
}

at::Tensor with_ones(const at::Tensor& v) {  // [..., V] -> [..., V + 1]
  auto ones_shape = v.sizes().vec();
  ones_shape.back() = 1;
  return at::cat({v, at::ones(ones_shape, v.options())}, -1);
}

MlstmState initial_state(const MlstmArgs& a, at::ScalarType sd) {
  const int64_t B = a.q.size(0), H = a.q.size(2), K = a.q.size(3), V = a.v.size(3);
  if (!a.state0.C.defined()) return mlstm_zero_state(B, H, K, V, a.q.options().dtype(sd));
  return {a.state0.C.to(sd), a.state0.n.to(sd), a.state0.m.to(sd)};
}

}  // namespace

MlstmState mlstm_zero_state(int64_t batch, int64_t heads, int64_t dk, int64_t dv, const at::TensorOptions& opts) {
  return {at::zeros({batch, heads, dk, dv}, opts), at::zeros({batch, heads, dk}, opts),
          at::zeros({batch, heads}, opts)};
}

MlstmState mlstm_merge_states(const MlstmState& older, const at::Tensor& log_f, const MlstmState& newer) {
  auto [C, m] = merge(augmented(older), older.m, log_f, augmented(newer), newer.m);
  return split(C, m);
}

void check_mlstm_args(const MlstmArgs& a) {
  const std::string op = "mlstm";
  const auto [B, T, H, K, V] = check_qkv(op, a.q, a.k, a.v);
  check_shape(op, "log_f", a.log_f, {B, T, H});
  check_shape(op, "log_i", a.log_i, {B, T, H});
  if (a.state0.C.defined() || a.state0.n.defined() || a.state0.m.defined()) {
    check_shape(op, "state C", a.state0.C, {B, H, K, V});
    check_shape(op, "state n", a.state0.n, {B, H, K});
    check_shape(op, "state m", a.state0.m, {B, H});
  }
  SCANLAB_CHECK(a.chunk_len >= 1, op, ": chunk_len is ", a.chunk_len, "; expected >= 1");
}

void check_mlstm_step_args(const MlstmStepArgs& a, const MlstmState& state) {
  SCANLAB_CHECK(a.q.defined() && a.q.dim() == 3 && a.v.defined() && a.v.dim() == 3, "mlstm_step: q must be ",
                "[B, H, K] and v [B, H, V]");
  const int64_t B = a.q.size(0), H = a.q.size(1), K = a.q.size(2), V = a.v.size(2);
  check_shape("mlstm_step", "k", a.k, {B, H, K});
  check_shape("mlstm_step", "log_f", a.log_f, {B, H});
  check_shape("mlstm_step", "log_i", a.log_i, {B, H});
  check_shape("mlstm_step", "state C", state.C, {B, H, K, V});
  check_shape("mlstm_step", "state n", state.n, {B, H, K});
  check_shape("mlstm_step", "state m", state.m, {B, H});
}

at::Tensor mlstm_step_torch(const MlstmStepArgs& a, MlstmState& state) {
  check_mlstm_step_args(a, state);
  const auto sd = state.C.scalar_type();
  auto q = a.q.to(sd), k = a.k.to(sd);
  // The new token as a stabilized state (k v'ᵀ, log_i), merged after the decayed old state.
  auto [Caug, m] = merge(augmented(state), state.m, a.log_f.to(sd),
                         k.unsqueeze(-1) * with_ones(a.v.to(sd)).unsqueeze(-2), a.log_i.to(sd));
  state = split(Caug, m);
  return normalize((q.unsqueeze(-1) * Caug).sum(-2), m).to(a.q.scalar_type());
}

MlstmOut mlstm_ref(const MlstmArgs& a) {
  check_mlstm_args(a);
  MlstmState s = initial_state(a, state_dtype(a.q.scalar_type()));
  const int64_t T = a.q.size(1);
  const auto q = time_slices(a.q, 1, T), k = time_slices(a.k, 1, T), v = time_slices(a.v, 1, T),
             log_f = time_slices(a.log_f, 1, T), log_i = time_slices(a.log_i, 1, T);
  std::vector<at::Tensor> o;
  for (int64_t t = 0; t < T; ++t) o.push_back(mlstm_step_torch({q[t], k[t], v[t], log_f[t], log_i[t]}, s));
  return {at::stack(o, 1), s};
}

// Per chunk n, with g the cumulative log forget gate inside the chunk (G_n = g at its end) and m_n the
// stabilizer entering it:
//   log D_ij = g_i - g_j + log_i_j (j <= i),  m_i = max(g_i + m_n, max_j log D_ij)   (= the step's m)
//   [num | q·n]_i = Σ_j exp(log D_ij - m_i) (q_i·k_j) v'_j + exp(g_i + m_n - m_i) q_iᵀ C̃'_n
// The stabilizers entering the chunks follow m_{n+1} = max(G_n + m_n, M_n), M_n = max_j (G_n - g_j +
// log_i_j), a max-plus recurrence with the closed form (P_n = Σ_{l<n} G_l)
//   m_n = P_n + max(m_0, max_{l<n} (M_l - P_{l+1}))
// (a cumulative max, computed in float64: P_n grows like the sequence length). The states then
// follow the plain affine pass C̃'_{n+1} = exp(G_n + m_n - m_{n+1}) C̃'_n + Σ_j k_j e^{G_n - g_j +
// log_i_j - m_{n+1}} v'_jᵀ, every exponent <= 0, so all chunks are batched products around one
// state pass (ops/chunk_state_pass.h), as in the affine chunked form. With bf16 inputs the
// numerators take bf16 products and the normalizer q·n stays in float32.
MlstmOut mlstm_chunked(const MlstmArgs& a) {
  check_mlstm_args(a);
  const int64_t T = a.q.size(1), C = a.chunk_len;
  const auto sd = state_dtype(a.q.scalar_type()), md = matmul_dtype(a.q.scalar_type());
  const double inf = std::numeric_limits<double>::infinity();
  // [B, H, NC, C, *]. Padded tokens: k = 0 (no contribution), log f = 0, log i = -inf (no say in m).
  const at::Tensor q = to_chunks(a.q.to(md), C), k = to_chunks(a.k.to(md), C), v = to_chunks(a.v.to(md), C);
  const at::Tensor g = to_chunks(a.log_f.to(sd), C).cumsum(3),
                   li = to_chunks(a.log_i.to(sd), C, -inf);  // [B, H, NC, C]
  MlstmState s0 = initial_state(a, sd);
  const auto mask = causal_mask(C, /*inclusive=*/true, q.device());
  const auto neg_inf = at::full({}, -inf, g.options());
  // Stabilizers entering each chunk, m_prev [B, H, NC], and after the last, m_final [B, H].
  const at::Tensor G = g.select(3, C - 1);                   // [B, H, NC]
  const at::Tensor M = (G.unsqueeze(-1) - g + li).amax(-1);  // [B, H, NC]
  const at::Tensor P_next = G.to(at::kDouble).cumsum(-1);    // P_{n+1}
  const at::Tensor best = std::get<0>(at::cummax(M.to(at::kDouble) - P_next, -1));
  const at::Tensor m_next = (P_next + at::maximum(best, s0.m.to(at::kDouble).unsqueeze(-1))).to(sd);  // m_{n+1}
  const at::Tensor m_prev = at::cat({s0.m.unsqueeze(-1), m_next.narrow(-1, 0, m_next.size(-1) - 1)}, -1);
  // Scores inside each chunk.
  const at::Tensor log_d = g.unsqueeze(4) - g.unsqueeze(3) + li.unsqueeze(3);  // [B, H, NC, C, C]
  const at::Tensor inter = g + m_prev.unsqueeze(-1);                           // [B, H, NC, C]
  const at::Tensor m_row = at::maximum(inter, at::where(mask, log_d, neg_inf).amax(-1));
  const at::Tensor scores = at::matmul(q, k.transpose(-1, -2)).to(sd) * masked_exp(log_d - m_row.unsqueeze(-1), mask);
  // The chunks' own (stabilized) contributions [C | n] and the state pass. The normalizer column is
  // a sum (v' = [v, 1]), kept in the state dtype: the readout's q·n can nearly cancel, and bf16
  // products there cost several percent in the gradients at T = 1000 (tests/ops/test_chunked_ops.cpp).
  const at::Tensor k_state = k.to(sd) * (G.unsqueeze(-1) - g + li - m_next.unsqueeze(-1)).exp().unsqueeze(-1);
  const at::Tensor u = at::cat({at::matmul(k_state.to(md).transpose(-1, -2), v).to(sd), k_state.sum(3).unsqueeze(-1)},
                               -1);  // [B, H, NC, K, V + 1]
  const ChunkStates x = chunk_state_pass(u, G + m_prev - m_next, augmented(s0));
  const int64_t V = a.v.size(3);
  const at::Tensor C_in = x.entering.narrow(-1, 0, V), n_in = x.entering.select(-1, V);  // [.., K, V], [.., K]
  const at::Tensor carry = (inter - m_row).exp();                                        // [B, H, NC, C]
  const at::Tensor num = at::matmul(scores.to(md), v).to(sd) + carry.unsqueeze(-1) * at::matmul(q, C_in.to(md)).to(sd);
  const at::Tensor qn = scores.sum(-1) + carry * at::matmul(q.to(sd), n_in.unsqueeze(-1)).squeeze(-1);
  const at::Tensor o = normalize(at::cat({num, qn.unsqueeze(-1)}, -1), m_row);  // [B, H, NC, C, V]
  return {from_chunks(o, T).to(a.q.scalar_type()), split(x.final, m_next.select(-1, m_next.size(-1) - 1))};
}

// Pairs (E_t, C̃'_t, m_t) = (log f_t, k_t v'_tᵀ, log i_t); Agg((E_a, C_a, m_a), (E_b, C_b, m_b)) =
// (E_a + E_b, merge(C_a, m_a, E_b, C_b, m_b)), associative like the plain affine Agg.
MlstmOut mlstm_blelloch(const MlstmArgs& a) {
  check_mlstm_args(a);
  const int64_t T = a.q.size(1);
  const auto sd = state_dtype(a.q.scalar_type());
  auto q = a.q.to(sd), k = a.k.to(sd), v = with_ones(a.v.to(sd));
  auto log_f = a.log_f.to(sd), log_i = a.log_i.to(sd);
  std::vector<scan::TensorState> pairs;
  for (int64_t t = 0; t < T; ++t)
    pairs.push_back(
        {log_f.select(1, t), k.select(1, t).unsqueeze(-1) * v.select(1, t).unsqueeze(-2), log_i.select(1, t)});
  scan::TensorAgg agg = [](const scan::TensorState& older, const scan::TensorState& newer) {
    auto [C, m] = merge(older[1], older[2], newer[0], newer[1], newer[2]);
    return scan::TensorState{older[0] + newer[0], C, m};
  };
  auto prefixes = scan::tensor_blelloch_scan(pairs, agg, scan::ScanKind::Inclusive);
  MlstmState s0 = initial_state(a, sd);
  const at::Tensor C0 = augmented(s0);
  std::vector<at::Tensor> o;
  at::Tensor C, m;
  for (int64_t t = 0; t < T; ++t) {
    const auto& p = *prefixes[t];
    std::tie(C, m) = merge(C0, s0.m, p[0], p[1], p[2]);
    o.push_back(normalize((q.select(1, t).unsqueeze(-1) * C).sum(-2), m));
  }
  return {at::stack(o, 1).to(a.q.scalar_type()), split(C, m)};
}

}  // namespace scanlab::ops
