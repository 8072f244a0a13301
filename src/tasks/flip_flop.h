// State tracking on the flip-flop (set-reset) monoid: read a stream of actions, each either "write
// value v" (one of num_values) or a distractor that changes nothing, and after each action output the
// last value written. Its states compose associatively (a write overrides, a distractor is the
// identity), so it is a word problem like word_problem.h, but over the simplest aperiodic monoid
// rather than a group: the building block of Krohn-Rhodes decompositions, and the task of Liu et al.
// 2023 ("flip-flop language modelling") with dense labels. For a chunked model the difficulty is
// set by write_prob: a chunk holds no write with probability (1 - write_prob)^C, and then its
// answers must come from the prefix state, i.e. through Agg.
// Tokens: [PAD]=0, [EOS]=1, [UNK]=2, then write_0..write_{V-1}, then distractor_0..distractor_{D-1}.
// Labels are the write token of the current value (a model answers with the token that set it).
// The first action of every example is a write, so every position has a defined label.
// Alignment Unshifted: logits[t] is scored against labels[t], the value after reading inputs[t].
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tasks/task.h"

namespace scanlab::tasks {

struct FlipFlopOptions {
  int64_t num_values = 4;       // distinct values a write can set (V)
  int64_t num_distractors = 4;  // distinct tokens that leave the value unchanged (D)
  double write_prob = 0.125;    // probability that an action after the first is a write
  int64_t seq_len = 32;         // actions per example (T)
  int64_t num_train = 100000;
  int64_t num_val = 1000;
  uint64_t seed = 0;       // training examples
  uint64_t val_seed = 10;  // validation examples: a disjoint stream
};

class FlipFlopTask : public Task {
 public:
  static constexpr int64_t kNumSpecialTokens = 3;  // [PAD], [EOS], [UNK]

  explicit FlipFlopTask(FlipFlopOptions opts);
  std::string name() const override;
  int64_t vocab_size() const override { return kNumSpecialTokens + opts_.num_values + opts_.num_distractors; }
  int64_t seq_len() const override { return opts_.seq_len; }
  LossAlignment alignment() const override { return LossAlignment::Unshifted; }
  int64_t num_examples(Split split) const override;
  Batch examples(Split split, const std::vector<int64_t>& indices) const override;

  static int64_t write_token(int64_t value) { return kNumSpecialTokens + value; }
  int64_t distractor_token(int64_t d) const { return kNumSpecialTokens + opts_.num_values + d; }
  // The action tokens of one example and the value after each (value[t] is set by the last write
  // among actions 0..t).
  void generate(Split split, int64_t index, std::vector<int64_t>& tokens, std::vector<int64_t>& values) const;
  bool is_write(int64_t token) const {
    return token >= kNumSpecialTokens && token < kNumSpecialTokens + opts_.num_values;
  }
  // For inputs [B, T] (CPU), the index of the last write at or before each position: [B, T] int64,
  // -1 before the first write.
  at::Tensor last_write_index(const at::Tensor& inputs) const;

 private:
  FlipFlopOptions opts_;
};

}  // namespace scanlab::tasks
