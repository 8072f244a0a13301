// Chunked affine scan (PSM paper §1.5; GLA/Mamba2 chunkwise form). Per chunk of c tokens, with the
// gates kept as cumulative log decay g_i = Σ_{l<=i} log a_l inside the chunk:
//   o_i = Σ_{j<=i} (q_i ⊙ exp(g_i - g_j))·k_j v_j + (q_i ⊙ exp(g_i)) h          (intra + inter)
//   h  <- exp(g_c) ⊙ h + Σ_j (k_j ⊙ exp(g_c - g_j)) v_jᵀ                       (state passing)
// Every exponent is <= 0 (masked entries never reach exp), so strong decay and long sequences only
// underflow to 0. Scalar gates use one [c, c] decay matrix per head; diagonal gates need the
// per-key [c, c, K] decay (the fp-safe form of (Q⊙Γ)(K/Γ)ᵀ, which would overflow).
// All arithmetic is in the state dtype (float32 or float64); autograd flows through every step.
#include <vector>

#include "ops/affine_scan/affine_scan.h"
#include "ops/op_common.h"

namespace scanlab::ops {

AffineScanOut affine_scan_chunked_torch(const AffineScanArgs& a) {
  check_affine_scan_args(a);
  const int64_t B = a.q.size(0), T = a.q.size(1), H = a.q.size(2), K = a.q.size(3), V = a.v.size(3);
  const auto sd = state_dtype(a.q.scalar_type());
  const GateKind kind = gate_kind(a.log_a, 3);
  // [B, H, T, *] so that one chunk is a contiguous slice of dim 2.
  auto q = a.q.to(sd).transpose(1, 2), k = a.k.to(sd).transpose(1, 2), v = a.v.to(sd).transpose(1, 2);
  at::Tensor log_a = kind == GateKind::Identity ? at::zeros({B, H, T}, q.options())
                                                : a.log_a.to(sd).transpose(1, 2);  // [B, H, T(, K)]
  const bool diagonal = kind == GateKind::Diagonal;
  at::Tensor h = a.h0.defined() ? a.h0.to(sd) : at::zeros({B, H, K, V}, q.options());
  std::vector<at::Tensor> outs;
  for (int64_t start = 0; start < T; start += a.chunk_len) {
    const int64_t c = std::min(a.chunk_len, T - start);
    auto qc = q.narrow(2, start, c), kc = k.narrow(2, start, c), vc = v.narrow(2, start, c);
    auto mask = causal_mask(c, /*inclusive=*/true, q.device());
    at::Tensor g = log_a.narrow(2, start, c).cumsum(2);  // [B, H, c(, K)]
    at::Tensor scores, q_inter, k_state, g_last;
    if (diagonal) {
      // decay[i, j, :] = exp(g_i - g_j) for j <= i
      auto decay = masked_exp(g.unsqueeze(3) - g.unsqueeze(2), mask.unsqueeze(-1));  // [B, H, c, c, K]
      scores = (qc.unsqueeze(3) * kc.unsqueeze(2) * decay).sum(-1);                  // [B, H, c, c]
      q_inter = qc * g.exp();
      g_last = g.select(2, c - 1);                                                   // [B, H, K]
      k_state = kc * (g_last.unsqueeze(2) - g).exp();
    } else {
      auto decay = masked_exp(g.unsqueeze(3) - g.unsqueeze(2), mask);  // [B, H, c, c]
      scores = at::matmul(qc, kc.transpose(-1, -2)) * decay;
      q_inter = qc * g.exp().unsqueeze(-1);
      g_last = g.select(2, c - 1).unsqueeze(-1);                       // [B, H, 1]
      k_state = kc * (g_last - g).exp().unsqueeze(-1);
    }
    // 1. intra-chunk (causal, decayed) + 2. inter-chunk (state entering the chunk)
    outs.push_back(at::matmul(scores, vc) + at::matmul(q_inter, h));
    // 3. carry the state to the end of the chunk
    h = h * g_last.exp().unsqueeze(-1) + at::matmul(k_state.transpose(-1, -2), vc);
  }
  return {at::cat(outs, 2).transpose(1, 2).to(a.q.scalar_type()), h};
}

}  // namespace scanlab::ops
