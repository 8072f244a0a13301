// Loss conventions: Shifted scores logits[t] against labels[t+1], Unshifted against labels[t];
// -100 positions never count; evaluation totals agree with the loss and count errors per position.
#include <gtest/gtest.h>

#include <cmath>

#include "tasks/task.h"

namespace scanlab::tasks {
namespace {

// Logits that put all mass on token `pred[b][t]`.
at::Tensor one_hot_logits(const std::vector<std::vector<int64_t>>& pred, int64_t V) {
  const int64_t B = static_cast<int64_t>(pred.size()), T = static_cast<int64_t>(pred[0].size());
  auto logits = at::zeros({B, T, V}, at::kFloat);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) logits[b][t][pred[static_cast<size_t>(b)][static_cast<size_t>(t)]] = 20.0;
  return logits;
}

TEST(TaskLoss, ShiftedScoresTheNextLabelAndUnshiftedTheSamePosition) {
  auto labels = at::tensor({3, 1, 2, 0}, at::kLong).reshape({1, 4});
  auto predicts_next = one_hot_logits({{1, 2, 0, 3}}, 4);
  auto predicts_same = one_hot_logits({{3, 1, 2, 0}}, 4);
  EXPECT_LT(task_loss(predicts_next, labels, LossAlignment::Shifted).item<double>(), 1e-6);
  EXPECT_GT(task_loss(predicts_next, labels, LossAlignment::Unshifted).item<double>(), 5);
  EXPECT_LT(task_loss(predicts_same, labels, LossAlignment::Unshifted).item<double>(), 1e-6);
  EXPECT_GT(task_loss(predicts_same, labels, LossAlignment::Shifted).item<double>(), 5);
}

TEST(TaskLoss, IgnoredLabelsDoNotCount) {
  auto labels = at::tensor(std::vector<int64_t>{kIgnoreLabel, 1, kIgnoreLabel, 2}, at::kLong).reshape({1, 4});
  auto logits = at::randn({1, 4, 5});
  auto expected = (at::log_softmax(logits[0][1], -1)[1] + at::log_softmax(logits[0][3], -1)[2]) / -2.0;
  EXPECT_NEAR(task_loss(logits, labels, LossAlignment::Unshifted).item<double>(), expected.item<double>(), 1e-6);
}

TEST(TaskLoss, Float64StaysFloat64AndTheSumOverTheCountIsTheMean) {
  auto labels = at::tensor(std::vector<int64_t>{kIgnoreLabel, 1, 4, 2, 0, kIgnoreLabel}, at::kLong).reshape({2, 3});
  auto logits = at::linspace(-2, 3, 2 * 3 * 5, at::kDouble).sin().reshape({2, 3, 5});
  const auto mean = task_loss(logits, labels, LossAlignment::Shifted);
  const auto [sum, count] = task_loss_sum(logits, labels, LossAlignment::Shifted);
  EXPECT_EQ(mean.scalar_type(), at::kDouble);
  EXPECT_EQ(count, 3);  // of the shifted targets 1, 4 | 0, ignored
  EXPECT_NEAR(sum.item<double>() / count, mean.item<double>(), 1e-15);
  auto expected = (at::log_softmax(logits[0][0], -1)[1] + at::log_softmax(logits[0][1], -1)[4] +
                   at::log_softmax(logits[1][0], -1)[0]) /
                  -3.0;
  EXPECT_NEAR(mean.item<double>(), expected.item<double>(), 1e-15);
}

TEST(EvalTotals, AccuracyLossAndPerPositionErrors) {
  auto labels = at::tensor({0, 1, 2, 3, 0, 1, 2, 3}, at::kLong).reshape({2, 4});
  labels[1][2] = kIgnoreLabel;
  auto logits = one_hot_logits({{1, 2, 0, 0}, {1, 0, 3, 3}}, 4);  // shifted: targets 1,2,3 per row
  EvalTotals totals;
  totals.add(logits, labels, LossAlignment::Shifted);
  // Row 0: 1✓ 2✓ 3✗(0). Row 1: 1✓ (ignored) 3✓.
  EXPECT_EQ(totals.total, 5);
  EXPECT_EQ(totals.correct, 4);
  EXPECT_DOUBLE_EQ(totals.accuracy(), 0.8);
  const auto rates = totals.error_rate_by_position();
  ASSERT_EQ(rates.size(), 3u);
  EXPECT_DOUBLE_EQ(rates[0], 0.0);
  EXPECT_DOUBLE_EQ(rates[1], 0.0);
  EXPECT_DOUBLE_EQ(rates[2], 0.5);
  EXPECT_NEAR(totals.mean_loss(), task_loss(logits, labels, LossAlignment::Shifted).item<double>(), 1e-6);
  EXPECT_NEAR(totals.perplexity(), std::exp(totals.mean_loss()), 1e-9);
}

}  // namespace
}  // namespace scanlab::tasks
