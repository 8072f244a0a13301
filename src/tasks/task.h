// The task interface shared by the trainer and the evaluator, and the loss conventions (PSM paper
// §4): a task yields batches of inputs [B, T] int64 and labels [B, T] int64 where -100 marks an
// unsupervised position. How logits meet labels is the task's alignment:
//   Shifted   (state tracking, language modelling): logits[t] is scored against labels[t + 1];
//   Unshifted (MQAR, labels already sit on the query position): logits[t] against labels[t].
// Examples are indexed: example i of a split is always the same, whatever else was read.
#pragma once
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace scanlab::tasks {

constexpr int64_t kIgnoreLabel = -100;

enum class Split { Train, Validation };
enum class LossAlignment { Shifted, Unshifted };

std::string split_name(Split split);

struct Batch {
  at::Tensor inputs;  // [B, T] int64 token ids
  at::Tensor labels;  // [B, T] int64, kIgnoreLabel where nothing is supervised
};

class Task {
 public:
  virtual ~Task() = default;
  virtual std::string name() const = 0;  // e.g. "word_problem(S5, T=18)"
  virtual int64_t vocab_size() const = 0;
  virtual int64_t seq_len() const = 0;
  virtual LossAlignment alignment() const = 0;
  virtual int64_t num_examples(Split split) const = 0;
  // Rows are the examples with these indices (each in [0, num_examples(split))), in this order.
  virtual Batch examples(Split split, const std::vector<int64_t>& indices) const = 0;
  // Examples [first, first + count) of a split.
  Batch range(Split split, int64_t first, int64_t count) const;
  // The tokenizer a model trained on this task carries in its file (tokenize/tokenizer.h): text
  // tasks name theirs; the others have none (token ids only), which is the default.
  virtual nlohmann::json tokenizer_description() const;
};

// Logits [B, T, V] and labels [B, T] cut to the scored pairs under an alignment: [B, T', V], [B, T'].
std::pair<at::Tensor, at::Tensor> align_for_loss(const at::Tensor& logits, const at::Tensor& labels,
                                                 LossAlignment alignment);

// Mean cross-entropy over supervised positions, computed in float32 (bf16 and float32 logits) or
// float64 (float64 logits).
at::Tensor task_loss(const at::Tensor& logits, const at::Tensor& labels, LossAlignment alignment);
// The summed cross-entropy over supervised positions and their count: data-parallel ranks add both
// up, so the mean is over the global batch's positions (a mean per rank would weight ranks instead).
std::pair<at::Tensor, int64_t> task_loss_sum(const at::Tensor& logits, const at::Tensor& labels,
                                             LossAlignment alignment);

// Sums for evaluation metrics, accumulated over batches: loss, accuracy (argmax == label) and
// errors per aligned position, over supervised positions only.
struct EvalTotals {
  double loss_sum = 0;  // summed cross-entropy (nats)
  int64_t correct = 0;
  int64_t total = 0;
  std::vector<int64_t> errors_at;  // per aligned position t
  std::vector<int64_t> count_at;

  void add(const at::Tensor& logits, const at::Tensor& labels, LossAlignment alignment);
  double mean_loss() const;
  double accuracy() const;
  double perplexity() const;
  std::vector<double> error_rate_by_position() const;  // NaN where a position has no labels
};

}  // namespace scanlab::tasks
