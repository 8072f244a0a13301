// Variable-length packed batches (cu_seqlens) for the chunked ops: gather into a padded batch of
// neutral tokens, run the op with per-sequence initial states, scatter the outputs back (varlen.h).
#include "ops/varlen.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "core/check.h"
#include "ops/op_common.h"

namespace scanlab::ops {
namespace {

using Named = std::vector<std::pair<std::string, at::Tensor>>;

// A packed input: [1, total_T, ...] with at least [1, total_T, H].
void check_packed(const std::string& op, const std::string& name, const at::Tensor& t, int64_t total) {
  SCANLAB_CHECK(t.defined(), op, ": ", name, " is undefined; expected a packed tensor [1, total_T, H, ...]");
  SCANLAB_CHECK(t.dim() >= 3 && t.size(0) == 1 && t.size(1) == total, op, ": ", name, " has shape ", t.sizes(),
                "; expected packed sequences [1, total_T = ", total, ", H, ...] (batch 1, the sequences along T)");
}

// The number of states h0 holds must be the number of sequences.
void check_state_count(const std::string& op, const std::string& name, const at::Tensor& t, int64_t S) {
  if (!t.defined()) return;
  SCANLAB_CHECK(t.dim() >= 1 && t.size(0) == S, op, ": ", name, " holds ", t.dim() >= 1 ? t.size(0) : int64_t{0},
                " initial states (shape ", t.sizes(), "); expected ", S, ", one per sequence of cu_seqlens");
}

// Checks q ([1, total_T, H, K]), every defined packed input, cu_seqlens and the states' counts (one
// per sequence), and returns the layout.
VarlenLayout packed_layout(const std::string& op, const Named& inputs, const Named& states, const at::Tensor& cu) {
  const at::Tensor& q = inputs.front().second;
  SCANLAB_CHECK(q.defined() && q.dim() == 4, op, ": q must be packed [1, total_T, H, K]");
  const int64_t total = q.size(1);
  for (const auto& [name, t] : inputs)
    if (t.defined() || name != "log_a") check_packed(op, name, t, total);
  VarlenLayout L = varlen_layout(op, cu, total, q.device());
  for (const auto& [name, t] : states) check_state_count(op, name, t, L.sequences());
  return L;
}

// The state of S sequences after no token: h0 in the state dtype, or zeros [S, H, K, V].
at::Tensor untouched_state(const at::Tensor& h0, const at::Tensor& q, const at::Tensor& v, int64_t S) {
  const auto sd = state_dtype(q.scalar_type());
  return h0.defined() ? h0.to(sd) : at::zeros({S, q.size(2), q.size(3), v.size(3)}, q.options().dtype(sd));
}

// The outputs of no token: [1, 0, H, V] in q's dtype.
at::Tensor no_outputs(const at::Tensor& q, const at::Tensor& v) {
  return at::zeros({1, 0, q.size(2), v.size(3)}, q.options());
}

std::vector<int64_t> with_first(int64_t first, at::IntArrayRef rest) {
  std::vector<int64_t> s{first};
  s.insert(s.end(), rest.begin(), rest.end());
  return s;
}

}  // namespace

VarlenLayout varlen_layout(const std::string& op, const at::Tensor& cu_seqlens, int64_t total,
                           const at::Device& device) {
  SCANLAB_CHECK(cu_seqlens.defined(), op, ": cu_seqlens is undefined; expected int64 offsets [S + 1]");
  SCANLAB_CHECK(cu_seqlens.scalar_type() == at::kLong, op, ": cu_seqlens has dtype ", cu_seqlens.scalar_type(),
                "; expected int64 (Long) offsets");
  SCANLAB_CHECK(cu_seqlens.dim() == 1 && cu_seqlens.size(0) >= 2, op, ": cu_seqlens has shape ", cu_seqlens.sizes(),
                "; expected [S + 1] offsets with at least one sequence (S >= 1)");
  const at::Tensor cu = cu_seqlens.to(at::kCPU).contiguous();
  const int64_t* c = cu.data_ptr<int64_t>();
  const int64_t S = cu.size(0) - 1;
  SCANLAB_CHECK(c[0] == 0, op, ": cu_seqlens[0] is ", c[0], "; expected 0 (the first sequence starts the pack)");
  VarlenLayout L;
  for (int64_t s = 0; s < S; ++s) {
    SCANLAB_CHECK(c[s + 1] >= c[s], op, ": cu_seqlens is not increasing: cu_seqlens[", s + 1, "] = ", c[s + 1],
                  " < cu_seqlens[", s, "] = ", c[s], "; expected non-decreasing offsets");
    L.lengths.push_back(c[s + 1] - c[s]);
    L.longest = std::max(L.longest, c[s + 1] - c[s]);
  }
  SCANLAB_CHECK(c[S] == total, op, ": cu_seqlens[", S, "] (the last offset) is ", c[S], "; expected total_T = ", total,
                ", the packed inputs' length");
  L.total = total;
  std::vector<int64_t> gather(static_cast<size_t>(S * L.longest), total), scatter(static_cast<size_t>(total));
  for (int64_t s = 0; s < S; ++s)
    for (int64_t t = 0; t < L.lengths[s]; ++t) {
      gather[static_cast<size_t>(s * L.longest + t)] = c[s] + t;
      scatter[static_cast<size_t>(c[s] + t)] = s * L.longest + t;
    }
  const auto opts = at::TensorOptions().dtype(at::kLong);
  L.gather = at::tensor(gather, opts).to(device);
  L.scatter = at::tensor(scatter, opts).to(device);
  return L;
}

at::Tensor varlen_pad(const at::Tensor& packed, const VarlenLayout& layout, double fill) {
  if (!packed.defined()) return packed;
  // One row of `fill` after the last token; padded slots gather it.
  std::vector<int64_t> spec(2 * (packed.dim() - 1), 0);  // (left, right) pairs from the last dim back to dim 1
  spec.back() = 1;
  const at::Tensor extended = at::constant_pad_nd(packed, spec, fill);
  auto shape = with_first(layout.sequences(), packed.sizes().slice(1));
  shape[1] = layout.longest;
  return extended.index_select(1, layout.gather).reshape(shape);
}

at::Tensor varlen_unpad(const at::Tensor& padded, const VarlenLayout& layout) {
  auto flat = with_first(1, padded.sizes().slice(1));
  flat[1] = padded.size(0) * padded.size(1);
  return padded.reshape(flat).index_select(1, layout.scatter);
}

AffineScanOut affine_scan_varlen(const AffineScanArgs& a, const at::Tensor& cu_seqlens) {
  const VarlenLayout L = packed_layout("affine_scan_varlen", {{"q", a.q}, {"k", a.k}, {"v", a.v}, {"log_a", a.log_a}},
                                       {{"h0", a.h0}}, cu_seqlens);
  if (L.longest == 0) return {no_outputs(a.q, a.v), untouched_state(a.h0, a.q, a.v, L.sequences())};
  // Padding: k = 0 adds nothing, log a = 0 keeps the state.
  AffineScanArgs p{varlen_pad(a.q, L), varlen_pad(a.k, L), varlen_pad(a.v, L), varlen_pad(a.log_a, L), a.h0,
                   a.chunk_len};
  AffineScanOut out = affine_scan_chunked(p);
  return {varlen_unpad(out.o, L), out.h_final};
}

MlstmOut mlstm_varlen(const MlstmArgs& a, const at::Tensor& cu_seqlens) {
  const VarlenLayout L =
      packed_layout("mlstm_varlen", {{"q", a.q}, {"k", a.k}, {"v", a.v}, {"log_f", a.log_f}, {"log_i", a.log_i}},
                    {{"state C", a.state0.C}, {"state n", a.state0.n}, {"state m", a.state0.m}}, cu_seqlens);
  if (L.longest == 0) {
    const auto sd = state_dtype(a.q.scalar_type());
    const MlstmState s = a.state0.C.defined() ? MlstmState{a.state0.C.to(sd), a.state0.n.to(sd), a.state0.m.to(sd)}
                                              : mlstm_zero_state(L.sequences(), a.q.size(2), a.q.size(3), a.v.size(3),
                                                                 a.q.options().dtype(sd));
    return {no_outputs(a.q, a.v), s};
  }
  // Padding: k = 0 adds nothing, log f = 0 keeps the state, log i = -inf leaves the stabilizer m alone
  // (the chunked form pads its last chunk the same way).
  const double neg_inf = -std::numeric_limits<double>::infinity();
  MlstmArgs p{varlen_pad(a.q, L),
              varlen_pad(a.k, L),
              varlen_pad(a.v, L),
              varlen_pad(a.log_f, L),
              varlen_pad(a.log_i, L, neg_inf),
              a.state0,
              a.chunk_len};
  MlstmOut out = mlstm_chunked(p);
  return {varlen_unpad(out.o, L), out.state};
}

DeltaRuleOut delta_rule_varlen(const DeltaRuleArgs& a, const at::Tensor& cu_seqlens) {
  const VarlenLayout L =
      packed_layout("delta_rule_varlen", {{"q", a.q}, {"k", a.k}, {"v", a.v}, {"beta", a.beta}, {"log_a", a.log_a}},
                    {{"h0", a.h0}}, cu_seqlens);
  if (L.longest == 0) return {no_outputs(a.q, a.v), untouched_state(a.h0, a.q, a.v, L.sequences())};
  // Padding: β = 0 and k = 0 make the step the identity, log α = 0 keeps the state.
  DeltaRuleArgs p{
      varlen_pad(a.q, L), varlen_pad(a.k, L), varlen_pad(a.v, L), varlen_pad(a.beta, L), varlen_pad(a.log_a, L), a.h0,
      a.chunk_len};
  DeltaRuleOut out = delta_rule_chunked(p);
  return {varlen_unpad(out.o, L), out.h_final};
}

}  // namespace scanlab::ops
