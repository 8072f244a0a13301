// Chunked affine scan (PSM paper §1.5; the GLA/Mamba2 chunkwise form), every chunk at once. With the
// gates kept as cumulative log decay g_i = Σ_{l<=i} log a_l inside each chunk of C tokens:
//   o_i = Σ_{j<=i} (q_i ⊙ e^{g_i-g_j})·k_j v_j + (q_i ⊙ e^{g_i}) x_n        (intra + inter)
//   x_{n+1} = e^{g_C} ⊙ x_n + u_n,   u_n = Σ_j (k_j ⊙ e^{g_C-g_j}) v_jᵀ      (state passing)
// The intra-chunk scores, the chunk contributions u_n and the inter-chunk outputs are each one
// batched matrix product over [B, H, NC] chunks; the only sequential piece is the pass over chunk
// states x_n (ops/chunk_state_pass.h). Every exponent is <= 0 (masked entries never reach exp), so
// strong decay and long sequences only underflow to 0. Scalar gates use one [C, C] decay per chunk.
// Diagonal gates cannot use (Q⊙Γ)(K/Γ)ᵀ (it overflows), so each chunk is split into sub-chunks of
// kSubChunk rows (fla's secondary chunking): the block of sub-chunk p against the columns before it
// is a matrix product re-based at the sub-chunk's first row r, (q_i ⊙ e^{g_i-g_r})·(k_j ⊙ e^{g_r-g_j})
// with j < r <= i; the diagonal blocks use the per-key [s, s, K] decay.
// Products run in bfloat16 (float32 accumulation) for bfloat16 inputs and in the state dtype
// otherwise; decays, the state pass and the state are float32 or wider. Autograd flows through
// every step (the state pass has its own backward).
#include "ops/affine_scan/affine_scan.h"
#include "ops/chunk_state_pass.h"
#include "ops/op_common.h"

namespace scanlab::ops {
namespace {

constexpr int64_t kSubChunk = 16;

// Intra-chunk scores for a diagonal gate: A[i, j] = Σ_K q_i k_j e^{g_i - g_j} for j <= i, 0 above.
// q, k, g [B, H, NC, C, K] (g in the state dtype), C a multiple of s -> [B, H, NC, C, C] in the state
// dtype; the blocks below the diagonal are products in md.
at::Tensor diagonal_gate_scores(const at::Tensor& q, const at::Tensor& k, const at::Tensor& g, int64_t s,
                                at::ScalarType md) {
  const int64_t B = q.size(0), H = q.size(1), NC = q.size(2), C = q.size(3), K = q.size(4), nb = C / s;
  const auto dev = q.device();
  auto sub = [&](const at::Tensor& x) { return x.view({B, H, NC, nb, s, K}); };
  const at::Tensor gs = sub(g), qs = sub(q).to(g.scalar_type()), ks = sub(k).to(g.scalar_type());
  // Diagonal blocks: [B, H, NC, nb, s, s].
  const at::Tensor tri = causal_mask(s, true, dev).unsqueeze(-1);  // [s, s, 1]
  at::Tensor diag =
      (qs.unsqueeze(-2) * ks.unsqueeze(-3) * masked_exp(gs.unsqueeze(-2) - gs.unsqueeze(-3), tri)).sum(-1);
  // Scatter block p to columns [p s, p s + s): one-hot over the column block.
  const at::Tensor onehot = at::eye(nb, g.options()).view({nb, 1, nb, 1});
  at::Tensor scores = (diag.unsqueeze(-2) * onehot).reshape({B, H, NC, nb, s, C});
  if (nb > 1) {
    // Blocks below the diagonal, re-based at each sub-chunk's first row r = p s.
    const at::Tensor g_ref = gs.select(4, 0);                               // [B, H, NC, nb, K]
    const at::Tensor q_re = (qs * (gs - g_ref.unsqueeze(4)).exp()).to(md);  // [.., nb, s, K]
    const at::Tensor before = at::arange(C, at::TensorOptions().device(dev)).view({1, C}) <
                              (at::arange(nb, at::TensorOptions().device(dev)) * s).view({nb, 1});  // [nb, C]
    const at::Tensor k_re =
        (k.to(g.scalar_type()).unsqueeze(3) * masked_exp(g_ref.unsqueeze(4) - g.unsqueeze(3), before.unsqueeze(-1)))
            .to(md);  // [.., nb, C, K]
    scores = scores + at::matmul(q_re, k_re.transpose(-1, -2)).to(g.scalar_type());
  }
  return scores.view({B, H, NC, C, C});
}

}  // namespace

AffineScanOut affine_scan_chunked_torch(const AffineScanArgs& a) {
  check_affine_scan_args(a);
  const int64_t T = a.q.size(1);
  const auto sd = state_dtype(a.q.scalar_type()), md = matmul_dtype(a.q.scalar_type());
  const GateKind kind = gate_kind(a.log_a, 3);
  const bool diagonal = kind == GateKind::Diagonal;
  // Diagonal gates: the chunk is a whole number of sub-chunks (the chunk length changes only the
  // order of the sums, not the function).
  int64_t C = a.chunk_len;
  const int64_t s = std::min(C, kSubChunk);
  if (diagonal) C = (C + s - 1) / s * s;
  // [B, H, NC, C, *]; padded tokens have q = k = v = 0 and log a = 0, so they leave the state as it is.
  const at::Tensor q = to_chunks(a.q.to(md), C), k = to_chunks(a.k.to(md), C), v = to_chunks(a.v.to(md), C);
  const int64_t B = q.size(0), H = q.size(1), NC = q.size(2);
  const auto mask = causal_mask(C, true, q.device());
  at::Tensor scores, q_inter, k_state, g_last;
  if (kind == GateKind::Identity) {
    scores = at::matmul(q, k.transpose(-1, -2)).masked_fill(mask.logical_not(), 0);
    q_inter = q;
    k_state = k;
    g_last = at::zeros({B, H, NC}, q.options().dtype(sd));
  } else {
    const at::Tensor g = to_chunks(a.log_a.to(sd), C).cumsum(3);  // [B, H, NC, C(, K)]
    if (diagonal) {
      scores = diagonal_gate_scores(q, k, g, s, md);
      q_inter = q.to(sd) * g.exp();
      g_last = g.select(3, C - 1);  // [B, H, NC, K]
      k_state = k.to(sd) * (g_last.unsqueeze(3) - g).exp();
    } else {
      const at::Tensor decay = masked_exp(g.unsqueeze(4) - g.unsqueeze(3), mask);  // [B, H, NC, C, C]
      scores = at::matmul(q, k.transpose(-1, -2)).to(sd) * decay;
      q_inter = q.to(sd) * g.exp().unsqueeze(-1);
      g_last = g.select(3, C - 1);  // [B, H, NC]
      k_state = k.to(sd) * (g_last.unsqueeze(3) - g).exp().unsqueeze(-1);
    }
  }
  // The chunks' own contributions, then the states entering each chunk (the one sequential pass).
  const at::Tensor u = at::matmul(k_state.to(md).transpose(-1, -2), v).to(sd);  // [B, H, NC, K, V]
  const at::Tensor h0 = a.h0.defined() ? a.h0.to(sd) : at::Tensor();
  const ChunkStates x = chunk_state_pass(u, g_last, h0);
  const at::Tensor o = at::matmul(scores.to(md), v) + at::matmul(q_inter.to(md), x.entering.to(md));
  return {from_chunks(o, T).to(a.q.scalar_type()), x.final};
}

}  // namespace scanlab::ops
