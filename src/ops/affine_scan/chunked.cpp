// Chunked affine scan (PSM paper §1.5; GLA/Mamba2 chunkwise form). Per chunk of c tokens, with the
// gates kept as cumulative log decay g_i = Σ_{l<=i} log a_l inside the chunk:
//   o_i = Σ_{j<=i} (q_i ⊙ exp(g_i - g_j))·k_j v_j + (q_i ⊙ exp(g_i)) h          (intra + inter)
//   h  <- exp(g_c) ⊙ h + Σ_j (k_j ⊙ exp(g_c - g_j)) v_jᵀ                       (state passing)
// Every exponent is <= 0 (masked entries never reach exp), so strong decay and long sequences only
// underflow to 0. Scalar gates use one [c, c] decay matrix per head. Diagonal gates cannot use
// (Q⊙Γ)(K/Γ)ᵀ (it overflows), so they split the chunk into sub-chunks of kSubChunk columns (fla's
// secondary chunking): blocks below the diagonal are matmuls re-based at the sub-chunk's last
// column r, (q_i ⊙ e^{g_i-g_r})·(k_j ⊙ e^{g_r-g_j}) with j <= r < i; diagonal blocks use the
// per-key [s, s, K] decay.
// All arithmetic is in the state dtype (float32 or float64); autograd flows through every step.
#include <vector>

#include "ops/affine_scan/affine_scan.h"
#include "ops/op_common.h"

namespace scanlab::ops {
namespace {

constexpr int64_t kSubChunk = 16;

// Intra-chunk scores A[i, j] = Σ_K q_i k_j e^{g_i - g_j} for j <= i (0 above the diagonal) for a
// diagonal gate: q, k, g [B, H, c, K] -> [B, H, c, c], one column block of kSubChunk at a time.
at::Tensor diagonal_gate_scores(const at::Tensor& q, const at::Tensor& k, const at::Tensor& g) {
  const int64_t c = q.size(2);
  std::vector<at::Tensor> column_blocks;
  for (int64_t j0 = 0; j0 < c; j0 += kSubChunk) {
    const int64_t s = std::min(kSubChunk, c - j0), r = j0 + s - 1, after = c - r - 1;
    auto qs = q.narrow(2, j0, s), ks = k.narrow(2, j0, s), gs = g.narrow(2, j0, s);
    std::vector<at::Tensor> rows;
    if (j0 > 0) rows.push_back(at::zeros({q.size(0), q.size(1), j0, s}, q.options()));  // above the diagonal
    auto decay = masked_exp(gs.unsqueeze(3) - gs.unsqueeze(2), causal_mask(s, true, q.device()).unsqueeze(-1));
    rows.push_back((qs.unsqueeze(3) * ks.unsqueeze(2) * decay).sum(-1));                // [B, H, s, s]
    if (after > 0) {
      auto g_r = g.select(2, r).unsqueeze(2);                                           // [B, H, 1, K]
      auto q_after = q.narrow(2, r + 1, after) * (g.narrow(2, r + 1, after) - g_r).exp();
      rows.push_back(at::matmul(q_after, (ks * (g_r - gs).exp()).transpose(-1, -2)));  // [B, H, after, s]
    }
    column_blocks.push_back(at::cat(rows, 2));
  }
  return at::cat(column_blocks, 3);
}

}  // namespace

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
  const auto qs = chunk_slices(q, 2, a.chunk_len), ks = chunk_slices(k, 2, a.chunk_len),
             vs = chunk_slices(v, 2, a.chunk_len), log_as = chunk_slices(log_a, 2, a.chunk_len);
  std::vector<at::Tensor> outs;
  for (size_t i = 0; i < qs.size(); ++i) {
    const at::Tensor &qc = qs[i], &kc = ks[i], &vc = vs[i];
    const int64_t c = qc.size(2);
    at::Tensor g = log_as[i].cumsum(2);  // [B, H, c(, K)]
    at::Tensor scores, q_inter, k_state, g_last;
    if (diagonal) {
      scores = diagonal_gate_scores(qc, kc, g);                                      // [B, H, c, c]
      q_inter = qc * g.exp();
      g_last = g.select(2, c - 1);                                                   // [B, H, K]
      k_state = kc * (g_last.unsqueeze(2) - g).exp();
    } else {
      auto decay = masked_exp(g.unsqueeze(3) - g.unsqueeze(2), causal_mask(c, true, q.device()));  // [B, H, c, c]
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
