#include "tasks/task.h"

#include <cmath>
#include <limits>

#include "core/check.h"
#include "tokenize/tokenizer.h"

namespace scanlab::tasks {

std::string split_name(Split split) { return split == Split::Train ? "train" : "validation"; }

Batch Task::range(Split split, int64_t first, int64_t count) const {
  SCANLAB_CHECK(first >= 0 && count >= 1 && first + count <= num_examples(split), name(), ": examples [", first, ", ",
                first + count, ") of the ", split_name(split), " split requested, but it has ", num_examples(split));
  std::vector<int64_t> indices(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) indices[static_cast<size_t>(i)] = first + i;
  return examples(split, indices);
}

std::pair<at::Tensor, at::Tensor> align_for_loss(const at::Tensor& logits, const at::Tensor& labels,
                                                 LossAlignment alignment) {
  SCANLAB_CHECK(
      logits.dim() == 3 && labels.dim() == 2 && logits.size(0) == labels.size(0) && logits.size(1) == labels.size(1),
      "loss: expected logits [B, T, V] and labels [B, T], got ", logits.sizes(), " and ", labels.sizes());
  if (alignment == LossAlignment::Unshifted) return {logits, labels};
  const int64_t T = logits.size(1);
  return {logits.narrow(1, 0, T - 1), labels.narrow(1, 1, T - 1)};
}

namespace {

// Logits as the loss reads them: float32 so bf16 autocast logits lose no precision here, and float64
// kept as it is (float64 runs are the references that other paths are checked against).
at::Tensor loss_precision(const at::Tensor& logits) {
  return logits.scalar_type() == at::kDouble ? logits : logits.to(at::kFloat);
}

at::Tensor cross_entropy(const at::Tensor& logits, const at::Tensor& labels, LossAlignment alignment,
                         at::Reduction::Reduction reduction) {
  auto [lg, lb] = align_for_loss(logits, labels, alignment);
  const int64_t V = lg.size(2);
  return at::cross_entropy_loss(loss_precision(lg).reshape({-1, V}), lb.reshape({-1}).to(lg.device()), {}, reduction,
                                kIgnoreLabel);
}

}  // namespace

at::Tensor task_loss(const at::Tensor& logits, const at::Tensor& labels, LossAlignment alignment) {
  return cross_entropy(logits, labels, alignment, at::Reduction::Mean);  // mean over non-ignored targets
}

std::pair<at::Tensor, int64_t> task_loss_sum(const at::Tensor& logits, const at::Tensor& labels,
                                             LossAlignment alignment) {
  auto [lg, lb] = align_for_loss(logits, labels, alignment);
  return {cross_entropy(logits, labels, alignment, at::Reduction::Sum), lb.ne(kIgnoreLabel).sum().item<int64_t>()};
}

void EvalTotals::add(const at::Tensor& logits, const at::Tensor& labels, LossAlignment alignment) {
  auto [lg, lb] = align_for_loss(logits.detach(), labels, alignment);
  const int64_t T = lg.size(1);
  auto lbc = lb.to(lg.device());
  auto mask = lbc.ne(kIgnoreLabel);
  auto loss = cross_entropy(logits.detach(), labels, alignment, at::Reduction::Sum);
  auto wrong = lg.argmax(-1).ne(lbc).logical_and(mask);
  loss_sum += loss.item<double>();
  const int64_t n = mask.sum().item<int64_t>();
  total += n;
  correct += n - wrong.sum().item<int64_t>();
  auto errors = wrong.sum(0).to(at::kCPU, at::kLong).contiguous();
  auto counts = mask.sum(0).to(at::kCPU, at::kLong).contiguous();
  if (static_cast<int64_t>(errors_at.size()) < T) {
    errors_at.resize(static_cast<size_t>(T), 0);
    count_at.resize(static_cast<size_t>(T), 0);
  }
  for (int64_t t = 0; t < T; ++t) {
    errors_at[static_cast<size_t>(t)] += errors.data_ptr<int64_t>()[t];
    count_at[static_cast<size_t>(t)] += counts.data_ptr<int64_t>()[t];
  }
}

double EvalTotals::mean_loss() const {
  return total == 0 ? std::numeric_limits<double>::quiet_NaN() : loss_sum / static_cast<double>(total);
}
double EvalTotals::accuracy() const {
  return total == 0 ? std::numeric_limits<double>::quiet_NaN()
                    : static_cast<double>(correct) / static_cast<double>(total);
}
double EvalTotals::perplexity() const { return std::exp(mean_loss()); }

std::vector<double> EvalTotals::error_rate_by_position() const {
  std::vector<double> rates(errors_at.size());
  for (size_t t = 0; t < rates.size(); ++t)
    rates[t] = count_at[t] == 0 ? std::numeric_limits<double>::quiet_NaN()
                                : static_cast<double>(errors_at[t]) / static_cast<double>(count_at[t]);
  return rates;
}

nlohmann::json Task::tokenizer_description() const { return tokenize::no_tokenizer(name()); }

}  // namespace scanlab::tasks
