#include "nar/gnn/metrics.h"

#include "core/check.h"

namespace scanlab::nar::gnn {

double mask_f1(const at::Tensor& pred, const at::Tensor& truth) {
  SCANLAB_CHECK(pred.sizes() == truth.sizes(), "mask F1: prediction shape ", pred.sizes(), " differs from truth shape ",
                truth.sizes());
  const at::Tensor counted = truth != -1.0;
  const at::Tensor p = (pred > 0.5) & counted, t = (truth > 0.5) & counted;
  const double tp = (p & t).sum().item<double>();
  const double fp = (p & ~t).sum().item<double>();
  const double fn = (~p & t).sum().item<double>();
  const double precision = tp + fp > 0 ? tp / (tp + fp) : 1.0;
  const double recall = tp + fn > 0 ? tp / (tp + fn) : 1.0;
  return precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0.0;
}

double one_hot_accuracy(const at::Tensor& pred, const at::Tensor& truth) {
  SCANLAB_CHECK(pred.sizes() == truth.sizes(), "mask_one/categorical accuracy: prediction shape ", pred.sizes(),
                " differs from truth shape ", truth.sizes());
  const at::Tensor rows = (truth == 1.0).any(-1);
  const double count = rows.sum().item<double>();
  if (count == 0) return 1.0;
  const at::Tensor hit = (pred.argmax(-1) == truth.argmax(-1)) & rows;
  return hit.sum().item<double>() / count;
}

double pointer_accuracy(const at::Tensor& pred, const at::Tensor& truth) {
  SCANLAB_CHECK(pred.sizes() == truth.sizes(), "pointer accuracy: prediction shape ", pred.sizes(),
                " differs from truth shape ", truth.sizes());
  if (truth.numel() == 0) return 1.0;
  return (pred.to(at::kLong) == truth.to(at::kLong)).to(at::kDouble).mean().item<double>();
}

double scalar_mse(const at::Tensor& pred, const at::Tensor& truth) {
  SCANLAB_CHECK(pred.sizes() == truth.sizes(), "scalar MSE: prediction shape ", pred.sizes(),
                " differs from truth shape ", truth.sizes());
  return (pred.to(at::kDouble) - truth.to(at::kDouble)).pow(2).mean().item<double>();
}

}  // namespace scanlab::nar::gnn
