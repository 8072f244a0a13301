// Losses of CLRS as per-element terms plus a validity mask, so that outputs ([B,...])
// and hints ([T-1,B,...], additionally masked by each sample's length) share one reduction:
// loss = sum(term * valid) / max(sum(valid), 1e-12). Each hint is normalised on its own.
#pragma once
#include <ATen/ATen.h>

namespace scanlab::nar::gnn {

struct ElementLoss {
  at::Tensor term;   // per element (scalar, mask) or per row (mask_one, categorical, pointers)
  at::Tensor valid;  // same shape, 1 where the term counts
};

// Squared error; every entry counts.
ElementLoss scalar_loss(const at::Tensor& pred, const at::Tensor& truth);
// Binary cross-entropy with logits; entries whose truth is -1 (masked) do not count.
ElementLoss mask_loss(const at::Tensor& logits, const at::Tensor& truth);
// mask_one / categorical: -sum(truth * log_softmax(logits)) over the last axis; rows without a
// positive entry do not count. Result has the last axis removed.
ElementLoss one_hot_loss(const at::Tensor& logits, const at::Tensor& truth);
// Pointer: cross-entropy of the index `truth` (any dtype, [...]) against logits [..., N].
ElementLoss pointer_loss(const at::Tensor& logits, const at::Tensor& truth);
// Permutation pointer: -sum(truth_onehot * log_perm) over the last axis (log_perm from log_sinkhorn).
ElementLoss permutation_loss(const at::Tensor& log_perm, const at::Tensor& truth_onehot);

// sum(term * valid * extra) / max(sum(valid * extra), 1e-12); `extra` (optional) broadcasts
// against term, e.g. the per-sample "still running" mask of a hint step.
at::Tensor reduce_loss(const ElementLoss& l, const at::Tensor& extra = at::Tensor());

// Broadcasts a [T,B] step mask to the rank of a [T,B,...] tensor by appending singleton axes.
at::Tensor expand_leading(const at::Tensor& mask, int64_t rank);

}  // namespace scanlab::nar::gnn
