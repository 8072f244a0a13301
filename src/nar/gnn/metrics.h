// Evaluation of hard predictions (CLRS): mask F1 over non-masked entries (precision and
// recall are 1 when undefined), mask_one / categorical accuracy of the argmax over rows that have a
// positive, pointer accuracy micro-averaged over all nodes, scalar MSE. The CLRS "score" of a model
// is the mean of these over its outputs.
#pragma once
#include <ATen/ATen.h>

namespace scanlab::nar::gnn {

// pred and truth in {0,1} (truth may hold -1 = masked); pred is thresholded at 0.5.
double mask_f1(const at::Tensor& pred, const at::Tensor& truth);
// pred: scores or one-hot [..., C]; truth one-hot [..., C] (rows without a positive are skipped).
double one_hot_accuracy(const at::Tensor& pred, const at::Tensor& truth);
// pred and truth: node indices of the same shape.
double pointer_accuracy(const at::Tensor& pred, const at::Tensor& truth);
double scalar_mse(const at::Tensor& pred, const at::Tensor& truth);

}  // namespace scanlab::nar::gnn
