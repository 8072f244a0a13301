// Scores of hard output predictions against the truth (CLRS): per output the metric of its
// type (mask F1, mask_one/categorical accuracy, pointer accuracy, scalar MSE) on the whole split;
// permutation pointers are first fused with their "<name>_mask" back into plain pointers, and the
// mask is not scored on its own. `score` is the mean over the scored outputs, scalar MSEs negated
// (so higher is always better: a scalar-output task's score is -MSE).
#pragma once
#include <ATen/ATen.h>

#include <map>
#include <string>

#include "nar/gnn/features.h"

namespace scanlab::nar::gnn {

struct OutputScores {
  std::map<std::string, double> per_output;
  double score = 0.0;
};

// `hard`: name -> hard predictions (nar::gnn::hard_outputs, possibly concatenated over batches);
// `truth`: the outputs of the same samples, in the same order.
OutputScores score_outputs(const std::map<std::string, at::Tensor>& hard, const std::vector<Feature>& truth);

}  // namespace scanlab::nar::gnn
