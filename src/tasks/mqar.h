// Multi-Query Associative Recall with the Zoology `multiquery_ar` semantics (PSM paper §4.2).
// An example of length T: the first 2·K tokens are key/value pairs k_1 v_1 … k_K v_K, keys drawn
// without replacement from [1, V/2), values from [V/2, V). The query region (T − 2K tokens) has
// S = (T − 2K)/2 slots; K of them (without replacement, P(slot g) ∝ a·(g+1)^(a−1), a = power_a;
// a = 1 is uniform) get the keys, slot g at region offset 2g, in pair order. Every other query-region
// token is uniform in [0, V) (random_non_queries). labels[t] = the value exactly where a queried
// key sits, −100 elsewhere; the loss is Unshifted (labels are pre-aligned).
// Offset variant (`multiquery_ar_offset`): min_query_distance D > 0 keeps only slots whose query
// lies at least D tokens after the last key/value pair's key, so every query is ≥ D tokens from its
// key (e.g. D = chunk size: the answer is never in the query's own chunk).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tasks/task.h"

namespace scanlab::tasks {

struct MqarOptions {
  int64_t vocab_size = 8192;
  int64_t seq_len = 128;
  int64_t num_kv_pairs = 8;
  double power_a = 1.0;            // 1.0: uniform gaps (the paper's setting)
  int64_t min_query_distance = 0;  // > 0: the offset variant
  bool random_non_queries = true;
  int64_t num_train = 100000;
  int64_t num_val = 3000;
  uint64_t seed = 0;
  uint64_t val_seed = 10;  // Zoology: validation seed = train seed + 10
};

class MqarTask : public Task {
 public:
  explicit MqarTask(MqarOptions opts);
  std::string name() const override;
  int64_t vocab_size() const override { return opts_.vocab_size; }
  int64_t seq_len() const override { return opts_.seq_len; }
  LossAlignment alignment() const override { return LossAlignment::Unshifted; }
  int64_t num_examples(Split split) const override;
  Batch examples(Split split, const std::vector<int64_t>& indices) const override;

  // The query slots (region offsets / 2) available and their sampling weights.
  const std::vector<int64_t>& slots() const { return slots_; }
  const std::vector<double>& slot_weights() const { return weights_; }

 private:
  void fill(uint64_t seed, int64_t index, int64_t* inputs, int64_t* labels) const;
  MqarOptions opts_;
  std::vector<int64_t> slots_;
  std::vector<double> weights_;
};

}  // namespace scanlab::tasks
