// The model-side view of a batch: every datapoint as a tensor with its spec entry.
//   inputs, outputs [B, ...], hints [T, B, ...] (T = the batch's padded hint length), lengths [B].
// Value conventions (CLRS): scalar/mask/mask_one/categorical are floats (categorical and
// soft pointers carry a trailing axis); pointers are node indices of shape node [B,N],
// edge [B,N,N], graph [B]; permutation pointers are one-hot rows [B,N,N].
#pragma once
#include <ATen/ATen.h>

#include <functional>
#include <string>
#include <vector>

#include "nar/spec.h"

namespace scanlab::nar::gnn {

struct Feature {
  SpecEntry entry;
  at::Tensor data;
};

struct FeatureBatch {
  std::vector<Feature> inputs, hints, outputs;
  at::Tensor lengths;  // [B] int64, the true hint length of each sample

  int64_t batch_size() const;
  int64_t nodes() const;       // N, read from the `pos` input (every CLRS algorithm has one)
  int64_t max_length() const;  // T (1 when there are no hints)
  FeatureBatch to(at::Device device) const;
  // Throws scanlab::Error naming the first datapoint whose shape does not fit its entry.
  void validate() const;
};

// Applies fn(tensor, batch_axis) to every tensor (batch axis 0 for inputs, outputs and lengths,
// 1 for hints), e.g. to move or slice a whole batch.
FeatureBatch map_batch(const FeatureBatch& b, const std::function<at::Tensor(const at::Tensor&, int64_t)>& fn);

// Inverse of CLRS's permutation encoding (a should_be_permutation output becomes one-hot rows in
// which the first node points to the last, plus "<name>_mask" marking the first node; done by the
// dataset, nar/dataset.h): pointer indices from the rows (argmax), the masked node pointing to itself.
at::Tensor fuse_permutation_and_mask(const at::Tensor& permutation, const at::Tensor& mask);

// Number of categories of a categorical entry (size of the trailing axis), 0 otherwise.
int64_t categories_of(const Feature& f);

}  // namespace scanlab::nar::gnn
