// State tracking as a group word problem (PSM paper §4.1, the "direct_state" S5 setup): read actions
// a_1..a_T drawn uniformly from a finite group and, after each action, output the composed state
// s_t = s_{t-1} · a_t, where s_0 is the identity and (s · a)[j] = s[a[j]] on one-line permutations.
// Every group is a permutation group: S_n, A_n (even permutations), Z_n (rotations of n points),
// parity (Z_2). Tokens: [PAD]=0, [EOS]=1, [UNK]=2, then the group's elements in lexicographic order
// of their one-line strings ("12345" first), so S5 has V = 123 as in the paper. Actions and states
// share tokens. inputs[t] = a_{t+1}, labels[t] = s_t, loss Shifted: logits[t] predicts s_{t+1}.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tasks/task.h"

namespace scanlab::tasks {

class PermutationGroup {
 public:
  // "S5", "A5", "S3", "Z7", "parity", ...; errors name the accepted forms.
  static PermutationGroup from_name(const std::string& name);

  const std::string& name() const { return name_; }
  int64_t size() const { return static_cast<int64_t>(elements_.size()); }
  int64_t degree() const { return degree_; }
  // Element e (0-based) in one-line notation, 1-based digits, e.g. "31254".
  std::string one_line(int64_t e) const;
  const std::vector<int>& permutation(int64_t e) const { return elements_[static_cast<size_t>(e)]; }
  int64_t identity() const { return 0; }
  // s · a, the state after action a from state s.
  int64_t compose(int64_t s, int64_t a) const { return table_[static_cast<size_t>(s * size() + a)]; }

 private:
  PermutationGroup(std::string name, int64_t degree, std::vector<std::vector<int>> elements);
  std::string name_;
  int64_t degree_ = 0;
  std::vector<std::vector<int>> elements_;  // sorted lexicographically; identity first
  std::vector<int64_t> table_;              // [size, size] composition table
};

struct WordProblemOptions {
  std::string group = "S5";
  int64_t seq_len = 18;        // actions per example (T)
  int64_t num_train = 100000;  // the paper's stories per curriculum stage
  int64_t num_val = 1000;
  uint64_t seed = 0;       // training examples
  uint64_t val_seed = 10;  // validation examples: a disjoint stream
};

class WordProblemTask : public Task {
 public:
  static constexpr int64_t kNumSpecialTokens = 3;  // [PAD], [EOS], [UNK]

  explicit WordProblemTask(WordProblemOptions opts);
  std::string name() const override;
  int64_t vocab_size() const override { return kNumSpecialTokens + group_.size(); }
  int64_t seq_len() const override { return opts_.seq_len; }
  LossAlignment alignment() const override { return LossAlignment::Shifted; }
  int64_t num_examples(Split split) const override;
  Batch examples(Split split, const std::vector<int64_t>& indices) const override;

  const PermutationGroup& group() const { return group_; }
  static int64_t token_of(int64_t element) { return kNumSpecialTokens + element; }
  // Actions and states of one example, as group element indices.
  void generate(Split split, int64_t index, std::vector<int64_t>& actions, std::vector<int64_t>& states) const;

 private:
  WordProblemOptions opts_;
  PermutationGroup group_;
};

}  // namespace scanlab::tasks
