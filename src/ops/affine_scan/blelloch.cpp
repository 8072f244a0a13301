// The affine scan through the generic prefix-scan engine (PSM paper §1.3): every token becomes a pair
// (E_t, f_t) = (log a_t, k_t v_tᵀ), the gate kept in log space so that composition is a sum, and
//   Agg((E_a, f_a), (E_b, f_b)) = (E_a + E_b, f_b + exp(E_b) ▶ f_a)        (older on the left)
// The inclusive Blelloch scan gives every prefix (E_{0..t}, s_t) with s_{-1} = 0; the state after
// token t is h_t = s_t + exp(E_{0..t}) ▶ h0. Holds T states of [B, H, K, V]: a cross-check, not a
// fast path.
#include <vector>

#include "ops/affine_scan/affine_scan.h"
#include "scan/tensor_state.h"

namespace scanlab::ops {
namespace {

// exp(log_e) ▶ f for a log gate [N, H] (scalar) or [N, H, K] (diagonal) and f [N, H, K, V].
at::Tensor act(const at::Tensor& log_e, const at::Tensor& f) {
  auto e = log_e.exp();
  return log_e.dim() == 2 ? f * e.unsqueeze(-1).unsqueeze(-1) : f * e.unsqueeze(-1);
}

}  // namespace

AffineScanOut affine_scan_blelloch(const AffineScanArgs& a) {
  check_affine_scan_args(a);
  const int64_t B = a.q.size(0), T = a.q.size(1), H = a.q.size(2), K = a.q.size(3), V = a.v.size(3);
  const auto sd = state_dtype(a.q.scalar_type());
  auto q = a.q.to(sd), k = a.k.to(sd), v = a.v.to(sd);
  at::Tensor log_a = a.log_a.defined() ? a.log_a.to(sd) : at::zeros({B, T, H}, q.options());
  std::vector<scan::TensorState> pairs;
  for (int64_t t = 0; t < T; ++t)
    pairs.push_back({log_a.select(1, t), k.select(1, t).unsqueeze(-1) * v.select(1, t).unsqueeze(-2)});
  scan::TensorAgg agg = [](const scan::TensorState& older, const scan::TensorState& newer) {
    return scan::TensorState{older[0] + newer[0], newer[1] + act(newer[0], older[1])};
  };
  auto prefixes = scan::tensor_blelloch_scan(pairs, agg, scan::ScanKind::Inclusive);
  at::Tensor h0 = a.h0.defined() ? a.h0.to(sd) : at::zeros({B, H, K, V}, q.options());
  std::vector<at::Tensor> o;
  at::Tensor h;
  for (int64_t t = 0; t < T; ++t) {
    const auto& p = *prefixes[t];
    h = p[1] + act(p[0], h0);
    o.push_back((q.select(1, t).unsqueeze(-1) * h).sum(-2));
  }
  return {at::stack(o, 1).to(a.q.scalar_type()), h};
}

}  // namespace scanlab::ops
