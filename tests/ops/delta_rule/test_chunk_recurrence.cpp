// The delta rule's chunk recurrence on the CPU in float64: the walk form (the autograd Function whose
// hand-written backward the CUDA kernel runs, here with its walks as torch loops) against autograd
// through the loop, outputs and the gradients of every input, for losses on all outputs and on some;
// the routed entry takes the loop on the CPU. tests/ops/delta_rule/test_chunk_recurrence_cuda.cpp
// checks the kernel against the same loop.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/check.h"
#include "ops/delta_rule/chunk_recurrence.h"
#include "ops/delta_rule/chunk_recurrence_inputs.h"
#include "support/expect_close.h"
#include "support/op_test_util.h"

namespace scanlab::ops {
namespace {

using scanlab::testing::expect_close;

// Gradients of loss(inputs), zeros for inputs the loss does not reach (a loss on some outputs of the
// loop may not reach every input: with one chunk, the entering states are h0 alone).
std::vector<at::Tensor> grads_or_zeros(const std::function<at::Tensor(const std::vector<at::Tensor>&)>& loss,
                                       const std::vector<at::Tensor>& inputs) {
  std::vector<at::Tensor> leaves;
  for (const auto& t : inputs) leaves.push_back(t.detach().clone().requires_grad_(true));
  auto g = torch::autograd::grad({loss(leaves)}, leaves, {}, /*retain_graph=*/c10::nullopt, /*create_graph=*/false,
                                 /*allow_unused=*/true);
  for (size_t i = 0; i < g.size(); ++i)
    if (!g[i].defined()) g[i] = at::zeros_like(inputs[i]);
  return g;
}

std::string describe(const RecurrenceCase& c) {
  return "BH " + std::to_string(c.BH) + " NC " + std::to_string(c.NC) + " C " + std::to_string(c.C) + " K " +
         std::to_string(c.K) + " V " + std::to_string(c.V) + " gate bias " + std::to_string(c.gate_bias);
}

TEST(DeltaChunkRecurrence, WalkBackwardMatchesAutogradOfTheLoopInFloat64) {
  const RecurrenceCase cases[] = {{2, 1, 4, 8, 12, 2.0},
                                  {3, 3, 8, 16, 16, -3.0},
                                  {1, 17, 5, 12, 20, 30.0},
                                  {2, 9, 16, 6, 10, 6.0},
                                  {1, 4, 1, 4, 4, 1.0}};
  for (const auto& c : cases) {
    SCOPED_TRACE(describe(c));
    const auto leaves = recurrence_leaves(c, 100 + c.NC);
    const auto loop = delta_chunk_recurrence_loop(recurrence_inputs(leaves, c.V));
    const auto walk = delta_chunk_recurrence_walk(recurrence_inputs(leaves, c.V));
    expect_close("entering", loop.entering, walk.entering, 1e-12);
    expect_close("u", loop.u, walk.u, 1e-12);
    expect_close("final", loop.final, walk.final, 1e-12);
    const RecurrenceLoss all(c, 7);
    // Every output weighted, then each alone (the other outputs' gradients arrive undefined).
    using Pick = std::function<at::Tensor(const DeltaChunkStates&)>;
    const std::vector<std::pair<std::string, Pick>> losses = {
        {"all outputs", [&](const DeltaChunkStates& s) { return all(s); }},
        {"entering only", [&](const DeltaChunkStates& s) { return (s.entering * all.w_entering).sum(); }},
        {"u only", [&](const DeltaChunkStates& s) { return (s.u * all.w_u).sum(); }},
        {"final only", [&](const DeltaChunkStates& s) { return (s.final * all.w_final).sum(); }}};
    const char* names[] = {"sol (x | y)", "k_state", "gamma", "h0"};
    for (const auto& [what, loss] : losses) {
      SCOPED_TRACE(what);
      const auto g_loop = grads_or_zeros(
          [&](const std::vector<at::Tensor>& in) {
            return loss(delta_chunk_recurrence_loop(recurrence_inputs(in, c.V)));
          },
          leaves);
      const auto g_walk = grads_or_zeros(
          [&](const std::vector<at::Tensor>& in) {
            return loss(delta_chunk_recurrence_walk(recurrence_inputs(in, c.V)));
          },
          leaves);
      for (size_t i = 0; i < g_loop.size(); ++i) {
        const double scale = g_loop[i].abs().max().item<double>();
        if (what == "all outputs") {
          EXPECT_GT(scale, 0.0) << names[i];
        }
        expect_close(std::string("grad of ") + names[i], g_loop[i], g_walk[i], 1e-11 * (1.0 + scale));
      }
    }
  }
}

TEST(DeltaChunkRecurrence, RoutesToTheLoopOnTheCpuAndChecksShapes) {
  const RecurrenceCase c{2, 3, 4, 8, 4, 2.0};
  const auto leaves = recurrence_leaves(c, 3);
  const DeltaChunkInputs in = recurrence_inputs(leaves, c.V);
  EXPECT_FALSE(delta_chunk_recurrence_cuda_supports(in));
  const auto routed = delta_chunk_recurrence(in), loop = delta_chunk_recurrence_loop(in);
  EXPECT_TRUE(at::equal(routed.entering, loop.entering));
  EXPECT_TRUE(at::equal(routed.u, loop.u));
  EXPECT_TRUE(at::equal(routed.final, loop.final));
  DeltaChunkInputs bad = in;
  bad.gamma = at::ones({c.BH, c.NC + 1}, at::kDouble);
  EXPECT_THROW(delta_chunk_recurrence(bad), scanlab::Error);
  bad = in;
  bad.h0 = in.h0.to(at::kFloat);
  EXPECT_THROW(delta_chunk_recurrence_walk(bad), scanlab::Error);
}

}  // namespace
}  // namespace scanlab::ops
