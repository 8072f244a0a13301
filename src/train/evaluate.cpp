#include "train/evaluate.h"

#include <ATen/core/grad_mode.h>

#include "core/check.h"
#include "core/torch_compat.h"

namespace scanlab::train {

EvalMode parse_eval_mode(const std::string& name) {
  if (name == "parallel") return EvalMode::Parallel;
  SCANLAB_CHECK(name == "stream", "evaluation mode '", name, "' is unknown; expected parallel or stream");
  return EvalMode::Stream;
}

at::Tensor model_logits(models::SequenceModel& model, const at::Tensor& inputs, EvalMode mode) {
  at::NoGradGuard no_grad;
  if (mode == EvalMode::Parallel) return model.forward(inputs);
  auto stream = model.start_stream(inputs.size(0));
  return models::stream_logits(*stream, inputs);
}

tasks::EvalTotals evaluate(models::SequenceModel& model, const tasks::Task& task, tasks::Split split, int64_t examples,
                           int64_t batch_size, EvalMode mode, at::Device device, bool bf16) {
  SCANLAB_CHECK(examples >= 1 && batch_size >= 1, "evaluate: examples and batch_size must be >= 1");
  return evaluate_range(model, task, split, 0, std::min(examples, task.num_examples(split)), batch_size, mode, device,
                        bf16);
}

tasks::EvalTotals evaluate_range(models::SequenceModel& model, const tasks::Task& task, tasks::Split split,
                                 int64_t first, int64_t count, int64_t batch_size, EvalMode mode, at::Device device,
                                 bool bf16) {
  SCANLAB_CHECK(count >= 0 && batch_size >= 1, "evaluate: count must be >= 0 and batch_size >= 1");
  const bool was_training = model.is_training();
  model.eval();
  tasks::EvalTotals totals;
  for (int64_t at = first; at < first + count; at += batch_size) {
    auto batch = task.range(split, at, std::min(batch_size, first + count - at));
    CudaBf16Autocast autocast(bf16 && device.is_cuda());
    auto logits = model_logits(model, batch.inputs.to(device), mode);
    totals.add(logits, batch.labels.to(device), task.alignment());
  }
  model.train(was_training);
  return totals;
}

}  // namespace scanlab::train
