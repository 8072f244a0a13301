// Sinkhorn, losses and metrics on hand-made examples.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "core/check.h"
#include "nar/gnn/losses.h"
#include "nar/gnn/metrics.h"
#include "nar/gnn/sinkhorn.h"
#include "support/expect_close.h"

namespace scanlab::nar::gnn {
namespace {

using scanlab::testing::expect_close;

TEST(NarGnnSinkhorn, OutputIsDoublyStochasticWithEmptyDiagonal) {
  torch::manual_seed(3);
  const at::Tensor logits = at::randn({3, 6, 6}, at::kDouble);
  for (bool noise : {false, true}) {
    SinkhornOptions o;
    o.steps = 50;
    o.temperature = 1.0;
    o.gumbel_noise = noise;
    const at::Tensor p = log_sinkhorn(logits, o).exp();
    expect_close("column sums", at::ones({3, 6}, at::kDouble), p.sum(-2), 1e-9);
    expect_close("row sums", at::ones({3, 6}, at::kDouble), p.sum(-1), 1e-4);
    EXPECT_LT(p.diagonal(0, -2, -1).max().item<double>(), 1e-12);
  }
}

TEST(NarGnnSinkhorn, LowTemperatureRecoversTheBestPermutation) {
  // Scores favour the cyclic permutation i -> i+1; Sinkhorn at tau 0.1 must put its mass there.
  at::Tensor logits = at::zeros({1, 4, 4}, at::kDouble);
  for (int64_t i = 0; i < 4; ++i) logits.index_put_({0, i, (i + 1) % 4}, 2.0);
  const at::Tensor p = log_sinkhorn(logits, SinkhornOptions{}).exp();
  for (int64_t i = 0; i < 4; ++i) EXPECT_GT(p[0][i][(i + 1) % 4].item<double>(), 0.99);
  EXPECT_THROW(log_sinkhorn(at::zeros({2, 3, 4}), SinkhornOptions{}), scanlab::Error);
}

TEST(NarGnnSinkhorn, ZeroStepsOnlyScalesAndMasksTheDiagonal) {
  // The evaluation diagnostic (`nar eval --sinkhorn-steps 0`): no normalisation, so the row argmax is
  // the raw scores' argmax off the diagonal.
  torch::manual_seed(5);
  const at::Tensor logits = at::randn({2, 5, 5}, at::kDouble);
  SinkhornOptions o;
  o.steps = 0;
  o.temperature = 0.5;
  const at::Tensor x = log_sinkhorn(logits, o);
  const at::Tensor eye = at::eye(5, at::kDouble).to(at::kBool);
  expect_close("off-diagonal", (logits / 0.5).masked_fill(eye, 0), x.masked_fill(eye, 0), 1e-12);
  EXPECT_LT(x.diagonal(0, -2, -1).max().item<double>(), -1e5);
  o.steps = -1;
  EXPECT_THROW(log_sinkhorn(logits, o), scanlab::Error);
}

TEST(NarGnnLosses, HandComputedValues) {
  // Pointer: softmax([0, ln 3]) = [1/4, 3/4]; truth 1 -> -ln(3/4).
  at::Tensor logits = at::tensor({0.0, std::log(3.0)}, at::kDouble).view({1, 1, 2});
  EXPECT_NEAR(reduce_loss(pointer_loss(logits, at::ones({1, 1}, at::kLong))).item<double>(), -std::log(0.75), 1e-12);
  // Mask: BCE(0, 1) = ln 2, BCE(0, 0) = ln 2, masked entry ignored whatever its logit.
  at::Tensor m =
      reduce_loss(mask_loss(at::tensor({0.0, 0.0, 50.0}, at::kDouble), at::tensor({1.0, 0.0, -1.0}, at::kDouble)));
  EXPECT_NEAR(m.item<double>(), std::log(2.0), 1e-12);
  // Mask one: one row with a positive (loss -ln(3/4)), one row without (ignored).
  at::Tensor rows = at::tensor({0.0, std::log(3.0), 5.0, 5.0}, at::kDouble).view({2, 2});
  at::Tensor truth = at::tensor({0.0, 1.0, 0.0, 0.0}, at::kDouble).view({2, 2});
  EXPECT_NEAR(reduce_loss(one_hot_loss(rows, truth)).item<double>(), -std::log(0.75), 1e-12);
  // Scalar: mean squared error.
  EXPECT_NEAR(
      reduce_loss(scalar_loss(at::tensor({1.0, 3.0}, at::kDouble), at::tensor({0.0, 1.0}, at::kDouble))).item<double>(),
      2.5, 1e-12);
  // Permutation: -sum(truth * log_perm) per row, averaged.
  at::Tensor logp = at::log(at::tensor({0.5, 0.5, 0.25, 0.75}, at::kDouble)).view({1, 2, 2});
  at::Tensor perm = at::tensor({0.0, 1.0, 1.0, 0.0}, at::kDouble).view({1, 2, 2});
  EXPECT_NEAR(reduce_loss(permutation_loss(logp, perm)).item<double>(), (-std::log(0.5) - std::log(0.25)) / 2, 1e-12);
  // The extra (step) mask: only the second of two terms counts.
  ElementLoss l{at::tensor({4.0, 2.0}, at::kDouble), at::ones({2}, at::kDouble)};
  EXPECT_NEAR(reduce_loss(l, at::tensor({0.0, 1.0}, at::kDouble)).item<double>(), 2.0, 1e-12);
  EXPECT_EQ(reduce_loss(l, at::zeros({2}, at::kDouble)).item<double>(), 0.0);
  EXPECT_THROW(pointer_loss(logits, at::ones({2}, at::kLong)), scanlab::Error);
}

TEST(NarGnnMetrics, HandMadeExamples) {
  // tp 1, fp 1, fn 1 -> F1 0.5; the masked entry (-1) with pred 1 does not count.
  EXPECT_DOUBLE_EQ(mask_f1(at::tensor({1.0, 1.0, 0.0, 1.0}), at::tensor({1.0, 0.0, 1.0, -1.0})), 0.5);
  EXPECT_DOUBLE_EQ(mask_f1(at::tensor({0.0, 0.0}), at::tensor({0.0, 0.0})), 1.0);  // nothing to find
  EXPECT_DOUBLE_EQ(mask_f1(at::tensor({1.0, 0.0}), at::tensor({0.0, 1.0})), 0.0);
  // Rows: hit, miss, row without a positive (skipped).
  at::Tensor pred = at::tensor({0.1, 0.9, 0.8, 0.2, 0.5, 0.4}).view({3, 2});
  at::Tensor truth = at::tensor({0.0, 1.0, 0.0, 1.0, 0.0, 0.0}).view({3, 2});
  EXPECT_DOUBLE_EQ(one_hot_accuracy(pred, truth), 0.5);
  EXPECT_DOUBLE_EQ(pointer_accuracy(at::tensor({0, 2, 2, 3}), at::tensor({0, 1, 2, 3})), 0.75);
  EXPECT_DOUBLE_EQ(scalar_mse(at::tensor({1.0, 2.0}), at::tensor({1.0, 0.0})), 2.0);
  EXPECT_THROW(pointer_accuracy(at::tensor({0, 1}), at::tensor({0, 1, 2})), scanlab::Error);
}

}  // namespace
}  // namespace scanlab::nar::gnn
