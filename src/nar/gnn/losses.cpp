#include "nar/gnn/losses.h"

#include "core/check.h"

namespace scanlab::nar::gnn {

namespace {
void check_same(const at::Tensor& a, const at::Tensor& b, const char* what) {
  SCANLAB_CHECK(a.sizes() == b.sizes(), what, ": prediction shape ", a.sizes(), " differs from truth shape ",
                b.sizes());
}
}  // namespace

ElementLoss scalar_loss(const at::Tensor& pred, const at::Tensor& truth) {
  check_same(pred, truth, "scalar loss");
  return {(pred - truth).pow(2), at::ones_like(pred)};
}

ElementLoss mask_loss(const at::Tensor& logits, const at::Tensor& truth) {
  check_same(logits, truth, "mask loss");
  // Numerically stable BCE with logits, written as CLRS writes it.
  const at::Tensor term = at::clamp_min(logits, 0) - logits * truth + at::log1p(at::exp(-logits.abs()));
  return {term, (truth != -1.0).to(logits.scalar_type())};
}

ElementLoss one_hot_loss(const at::Tensor& logits, const at::Tensor& truth) {
  check_same(logits, truth, "mask_one/categorical loss");
  const at::Tensor positive = truth * (truth != -1.0).to(truth.scalar_type());
  const at::Tensor term = -(positive * at::log_softmax(logits, -1)).sum(-1);
  return {term, (truth == 1.0).any(-1).to(logits.scalar_type())};
}

ElementLoss pointer_loss(const at::Tensor& logits, const at::Tensor& truth) {
  SCANLAB_CHECK(logits.dim() == truth.dim() + 1 && logits.sizes().slice(0, truth.dim()) == truth.sizes(),
                "pointer loss: logits ", logits.sizes(), " must be the truth's shape ", truth.sizes(),
                " plus a node axis");
  const at::Tensor index = truth.to(at::kLong).unsqueeze(-1);
  const at::Tensor term = -at::log_softmax(logits, -1).gather(-1, index).squeeze(-1);
  return {term, at::ones_like(term)};
}

ElementLoss permutation_loss(const at::Tensor& log_perm, const at::Tensor& truth_onehot) {
  check_same(log_perm, truth_onehot, "permutation loss");
  const at::Tensor term = -(truth_onehot * log_perm).sum(-1);
  return {term, at::ones_like(term)};
}

at::Tensor reduce_loss(const ElementLoss& l, const at::Tensor& extra) {
  const at::Tensor weight = extra.defined() ? l.valid * extra : l.valid;
  return (l.term * weight).sum() / at::clamp_min(weight.sum(), 1e-12);
}

at::Tensor expand_leading(const at::Tensor& mask, int64_t rank) {
  at::Tensor m = mask;
  while (m.dim() < rank) m = m.unsqueeze(-1);
  return m;
}

}  // namespace scanlab::nar::gnn
