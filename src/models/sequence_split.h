// Sequence parallelism's hook into the affine family (dist/seq_parallel.h implements it): while a
// SequenceSplitScope is open on a thread, AffineLm's mixers run their ops' chunked paths through the
// active split instead of from the zero state, and CausalConv takes the inputs before this rank's
// block from it. The tokens a model sees are then one contiguous block of each sequence; the split
// carries what crosses block boundaries (chunk states, the short convolutions' last inputs) between
// the ranks, so the block's outputs are the whole sequence's on its positions.
#pragma once
#include <ATen/ATen.h>

#include "ops/affine_scan/affine_scan.h"
#include "ops/affine_scan/mlstm.h"
#include "ops/delta_rule/delta_rule.h"

namespace scanlab::models {

class SequenceSplit {
 public:
  virtual ~SequenceSplit() = default;
  // The ops on this rank's slice of the tokens, from the state the earlier blocks leave (their
  // arguments carry no start state). Outputs on this slice; the final state is the whole sequence's.
  virtual ops::AffineScanOut affine_scan(const ops::AffineScanArgs& a) = 0;
  virtual ops::DeltaRuleOut delta_rule(const ops::DeltaRuleArgs& a) = 0;
  virtual ops::MlstmOut mlstm(const ops::MlstmArgs& a) = 0;
  // x [B, t, C], a causal convolution's inputs on this block -> [B, rows + t, C]: the `rows` inputs
  // before the block (zeros before the sequence's start), then x.
  virtual at::Tensor with_halo(const at::Tensor& x, int64_t rows) = 0;
};

// The split the mixers on this thread use, or nullptr (the whole sequence is here).
SequenceSplit* active_sequence_split();

class SequenceSplitScope {
 public:
  explicit SequenceSplitScope(SequenceSplit& split);
  ~SequenceSplitScope();
  SequenceSplitScope(const SequenceSplitScope&) = delete;
  SequenceSplitScope& operator=(const SequenceSplitScope&) = delete;

 private:
  SequenceSplit* previous_;
};

}  // namespace scanlab::models
