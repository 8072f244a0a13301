// Evaluation of a SequenceModel on a task split: loss, accuracy, perplexity and error rate per
// position, with the model's parallel forward or its streaming path (start_stream + step per token),
// which must give the same predictions (the duality the models promise).
#pragma once
#include <ATen/ATen.h>

#include <string>

#include "models/sequence_model.h"
#include "tasks/task.h"

namespace scanlab::train {

enum class EvalMode { Parallel, Stream };
EvalMode parse_eval_mode(const std::string& name);  // "parallel" | "stream"

// Logits [B, T, V] for inputs [B, T] by the chosen path (no grad).
at::Tensor model_logits(models::SequenceModel& model, const at::Tensor& inputs, EvalMode mode);

// The first `examples` examples of a split (fewer if the split is smaller), in batches.
tasks::EvalTotals evaluate(models::SequenceModel& model, const tasks::Task& task, tasks::Split split, int64_t examples,
                           int64_t batch_size, EvalMode mode, at::Device device, bool bf16 = false);
// Examples [first, first + count) of a split in batches (count 0: empty totals); a data-parallel
// rank evaluates its shard with it.
tasks::EvalTotals evaluate_range(models::SequenceModel& model, const tasks::Task& task, tasks::Split split,
                                 int64_t first, int64_t count, int64_t batch_size, EvalMode mode, at::Device device,
                                 bool bf16 = false);

}  // namespace scanlab::train
