// The affine scan's readable definition: argument checks, the one-token update and the token loop.
#include <vector>

#include "core/check.h"
#include "ops/affine_scan/affine_scan.h"
#include "ops/op_common.h"

namespace scanlab::ops {

at::ScalarType state_dtype(at::ScalarType t) { return t == at::kDouble ? at::kDouble : at::kFloat; }

GateKind gate_kind(const at::Tensor& log_a, int64_t dims_without_gate) {
  if (!log_a.defined()) return GateKind::Identity;
  return log_a.dim() == dims_without_gate ? GateKind::Scalar : GateKind::Diagonal;
}

void check_affine_scan_args(const AffineScanArgs& a) {
  const std::string op = "affine_scan";
  const auto [B, T, H, K, V] = check_qkv(op, a.q, a.k, a.v);
  if (a.log_a.defined()) {
    SCANLAB_CHECK(a.log_a.dim() == 3 || a.log_a.dim() == 4, op, ": log_a must be [B, T, H] (scalar gate) or ",
                  "[B, T, H, K] (diagonal gate), got ", a.log_a.sizes());
    if (a.log_a.dim() == 3)
      check_shape(op, "log_a", a.log_a, {B, T, H});
    else
      check_shape(op, "log_a", a.log_a, {B, T, H, K});
    check_float_on(op, "log_a", a.log_a, a.q.device());
  }
  if (a.h0.defined()) {
    check_shape(op, "h0", a.h0, {B, H, K, V});
    check_float_on(op, "h0", a.h0, a.q.device());
  }
  SCANLAB_CHECK(a.chunk_len >= 1, op, ": chunk_len is ", a.chunk_len, "; expected >= 1");
}

void check_affine_step_args(const AffineStepArgs& a, const at::Tensor& h) {
  const std::string op = "affine_scan_step";
  SCANLAB_CHECK(a.q.defined() && a.q.dim() == 3 && a.v.defined() && a.v.dim() == 3, op,
                ": q must be [B, H, K] and v [B, H, V]");
  const int64_t B = a.q.size(0), H = a.q.size(1), K = a.q.size(2), V = a.v.size(2);
  check_shape(op, "k", a.k, {B, H, K});
  check_shape(op, "v", a.v, {B, H, V});
  check_shape(op, "h", h, {B, H, K, V});
  if (a.log_a.defined()) {
    if (a.log_a.dim() == 2)
      check_shape(op, "log_a", a.log_a, {B, H});
    else
      check_shape(op, "log_a", a.log_a, {B, H, K});
  }
  SCANLAB_CHECK(h.scalar_type() == state_dtype(a.q.scalar_type()), op, ": h has dtype ", h.scalar_type(), "; expected ",
                state_dtype(a.q.scalar_type()), " for inputs of dtype ", a.q.scalar_type());
}

at::Tensor affine_scan_step_torch(const AffineStepArgs& a, at::Tensor& h) {
  check_affine_step_args(a, h);
  const auto sd = h.scalar_type();
  auto q = a.q.to(sd), k = a.k.to(sd), v = a.v.to(sd);
  // 1. decay: h <- a_t ▶ h (scalar per head, or per key row)
  at::Tensor decayed = h;
  switch (gate_kind(a.log_a, 2)) {
    case GateKind::Identity:
      break;
    case GateKind::Scalar:
      decayed = h * a.log_a.to(sd).exp().unsqueeze(-1).unsqueeze(-1);
      break;
    case GateKind::Diagonal:
      decayed = h * a.log_a.to(sd).exp().unsqueeze(-1);
      break;
  }
  // 2. write: h <- h + k vᵀ;  3. read: o = hᵀ q
  h = decayed + k.unsqueeze(-1) * v.unsqueeze(-2);
  return (q.unsqueeze(-1) * h).sum(-2).to(a.q.scalar_type());
}

AffineScanOut affine_scan_ref(const AffineScanArgs& a) {
  check_affine_scan_args(a);
  const int64_t B = a.q.size(0), T = a.q.size(1), H = a.q.size(2), K = a.q.size(3), V = a.v.size(3);
  const auto sd = state_dtype(a.q.scalar_type());
  at::Tensor h = a.h0.defined() ? a.h0.to(sd) : at::zeros({B, H, K, V}, a.q.options().dtype(sd));
  const auto q = time_slices(a.q, 1, T), k = time_slices(a.k, 1, T), v = time_slices(a.v, 1, T);
  const auto log_a = time_slices(a.log_a, 1, T);
  std::vector<at::Tensor> o;
  for (int64_t t = 0; t < T; ++t) o.push_back(affine_scan_step_torch({q[t], k[t], v[t], log_a[t]}, h));
  return {at::stack(o, 1), h};
}

AffineScanArgs selective_scan_args(const at::Tensor& x, const at::Tensor& delta, const at::Tensor& A,
                                   const at::Tensor& Bm, const at::Tensor& Cm) {
  const std::string op = "selective_scan";
  SCANLAB_CHECK(x.defined() && x.dim() == 3 && A.defined() && A.dim() == 2, op, ": x must be [B, T, D] and A [D, N]");
  const int64_t Bn = x.size(0), T = x.size(1), D = x.size(2), N = A.size(1);
  check_shape(op, "delta", delta, {Bn, T, D});
  check_shape(op, "A", A, {D, N});
  check_shape(op, "B", Bm, {Bn, T, N});
  check_shape(op, "C", Cm, {Bn, T, N});
  AffineScanArgs a;
  a.q = Cm.unsqueeze(2).expand({Bn, T, D, N});
  a.k = Bm.unsqueeze(2).expand({Bn, T, D, N});
  a.v = (delta * x).unsqueeze(-1);    // [B, T, D, 1]
  a.log_a = delta.unsqueeze(-1) * A;  // [B, T, D, N]
  return a;
}

}  // namespace scanlab::ops
