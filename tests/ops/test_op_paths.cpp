// The shared op test: every entry of the op registry (src/ops/registry.h), no skip list. In float64
// on the CPU, each path against the token-loop reference:
//   - chunked (the routed entry point and the torch form) at odd T ∈ {1, 7, 63, 100} x chunk ∈ {1, 16, 64};
//   - Blelloch and the step loop at odd and even T; chunked prefill then steps replays the reference;
//   - gradients of the chunked path against the reference's, every input and the initial state;
//   - strong decay (log -20 a token) over 4096 tokens stays finite in float32 and float64;
//   - float32 chunked against the float64 reference.
// Hand-computed values and argument checks stay in each family's own tests (tests/ops/<family>/).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ops/registry.h"
#include "support/expect_close.h"
#include "support/op_test_util.h"

namespace scanlab::ops {
namespace {

using scanlab::testing::expect_close;
using scanlab::testing::expect_same_gradients;
using scanlab::testing::rel_err;
using scanlab::testing::Rng;

// Larger queries, faster decay and wider input gates than the benchmarks draw, and a random initial
// state: absolute tolerances then bite, and the state's path through every form is checked.
OpArgs test_args(const OpEntry& op, const OpShape& s, uint64_t seed, bool initial_state = true) {
  OpDraw d;
  d.dtype = at::kDouble;
  d.seed = seed;
  d.q_scale = 0.5;
  d.gate_bias = 2.0;
  d.input_gate_scale = 2.0;
  d.initial_state = initial_state;
  return op.make_args(s, d);
}

// o and every final-state tensor (mLSTM: its stabilized C and n and the stabilizer m, which every path
// computes by the same recurrence).
void expect_same(const std::string& what, const OpOut& expected, const OpOut& actual, double max_abs) {
  const NamedTensors e = expected.all(), a = actual.all();
  ASSERT_EQ(e.size(), a.size()) << what;
  for (size_t i = 0; i < e.size(); ++i) expect_close(what + " " + e[i].first, e[i].second, a[i].second, max_abs);
}

// Tokens [start, start + len) of every per-token input; the initial state is kept.
OpArgs tokens(const OpArgs& a, int64_t start, int64_t len) {
  OpArgs b = a;
  for (auto& [name, t] : b.inputs) t = t.narrow(1, start, len);
  return b;
}

OpArgs with_dtype(OpArgs a, at::ScalarType dtype) {
  for (auto* group : {&a.inputs, &a.state0})
    for (auto& [name, t] : *group) t = t.to(dtype);
  return a;
}

class OpPaths : public ::testing::TestWithParam<std::string> {
 protected:
  const OpEntry& op() const { return find_op(GetParam()); }
};

TEST_P(OpPaths, ChunkedMatchesReferenceAtOddLengthsAndChunks) {
  for (int64_t T : {1, 7, 63, 100})
    for (int64_t chunk : {1, 16, 64}) {
      SCOPED_TRACE("T=" + std::to_string(T) + " chunk=" + std::to_string(chunk));
      const OpArgs a = test_args(op(), {2, T, 3, 8, 5, chunk}, 10 + T);
      const OpOut ref = op().reference(a);
      expect_same("chunked", ref, op().chunked(a), 1e-10);
      // V = 5: the routed entry point takes the token loop for diagonal gates; the torch form is the chunked one.
      expect_same("chunked torch form", ref, op().chunked_torch(a), 1e-10);
    }
}

TEST_P(OpPaths, BlellochAndStepLoopMatchReference) {
  for (int64_t T : {1, 2, 7, 33, 63, 100}) {
    SCOPED_TRACE("T=" + std::to_string(T));
    const OpArgs a = test_args(op(), {2, T, 3, 8, 5, 16}, 50 + T);
    const OpOut ref = op().reference(a);
    expect_same("blelloch", ref, op().blelloch(a), 1e-10);
    expect_same("step loop", ref, op().step(a), 1e-12);
  }
}

// Prefill the first 13 tokens with the chunked path (chunks of 4, the last one partial), then step
// token by token from its final state: the whole reference, outputs and state.
TEST_P(OpPaths, PrefillThenStepReplaysReference) {
  const int64_t T = 21, split = 13;
  OpArgs a = test_args(op(), {2, T, 2, 6, 4, 4}, 77);
  const OpOut ref = op().reference(a);
  const OpOut pre = op().chunked(tokens(a, 0, split));
  expect_close("prefill o", ref.o.narrow(1, 0, split), pre.o, 1e-12);
  OpArgs rest = tokens(a, split, T - split);
  ASSERT_EQ(rest.state0.size(), pre.state.size());
  for (size_t i = 0; i < pre.state.size(); ++i) rest.state0[i].second = pre.state[i].second;
  const OpOut steps = op().step(rest);
  expect_same("after steps", OpOut{ref.o.narrow(1, split, T - split), ref.state}, steps, 1e-12);
}

// A random weighting of o and of every final-state tensor, so each output's gradient path counts.
TEST_P(OpPaths, ChunkedGradientsMatchReference) {
  const OpArgs a = test_args(op(), {2, 37, 2, 4, 3, 8}, 91);
  std::vector<at::Tensor> inputs;
  for (const auto* group : {&a.inputs, &a.state0})
    for (const auto& [name, t] : *group) inputs.push_back(t);
  Rng rng(5);
  std::vector<at::Tensor> weights;
  for (const auto& [name, t] : op().reference(a).all()) weights.push_back(rng.randn(t.sizes()));
  auto loss_with = [&](const OpPath& path) {
    return [&, path](const std::vector<at::Tensor>& x) {
      OpArgs b = a;
      size_t i = 0;
      for (auto* group : {&b.inputs, &b.state0})
        for (auto& [name, t] : *group) t = x[i++];
      const NamedTensors out = path(b).all();
      at::Tensor loss = at::zeros({}, at::kDouble);
      for (size_t j = 0; j < out.size(); ++j) loss = loss + (out[j].second * weights[j]).sum();
      return loss;
    };
  };
  expect_same_gradients(loss_with(op().reference), loss_with(op().chunked), inputs, 1e-10);
}

// Log decay -20 a token over 4096 tokens: the cumulative decay e^-81920 would overflow any
// (Q⊙Γ)(K/Γ)ᵀ form. Outputs, final states and every input's gradient stay finite. (mLSTM's input gates
// scaled to e^60 as well: tests/ops/affine_scan/test_mlstm.cpp.)
TEST_P(OpPaths, StrongDecayOverLongSequenceStaysFinite) {
  if (op().decay_input.empty()) GTEST_SKIP() << GetParam() << " has no decay";
  OpArgs a = test_args(op(), {1, 4096, 1, 4, 4, 64}, 3, false);
  for (auto& [name, t] : a.inputs)
    if (name == op().decay_input) t = at::full_like(t, -20.0);
  const OpOut ref = op().reference(a);
  for (auto dt : {at::kFloat, at::kDouble}) {
    SCOPED_TRACE(dt == at::kFloat ? "float32" : "float64");
    OpArgs x = with_dtype(a, dt);
    for (auto& [name, t] : x.inputs) t = t.detach().requires_grad_(true);
    const OpOut out = op().chunked(x);
    for (const auto& [name, t] : out.all()) ASSERT_TRUE(t.isfinite().all().item<bool>()) << name;
    out.o.sum().backward();
    for (const auto& [name, t] : x.inputs) ASSERT_TRUE(t.grad().isfinite().all().item<bool>()) << "grad of " << name;
    expect_close("o vs float64 reference", ref.o, out.o, dt == at::kFloat ? 1e-5 : 1e-12);
  }
}

TEST_P(OpPaths, Float32ChunkedMatchesFloat64Reference) {
  const OpArgs a = test_args(op(), {2, 200, 2, 16, 8, 64}, 123);
  const OpOut ref = op().reference(a);
  const OpOut out = op().chunked(with_dtype(a, at::kFloat));
  const NamedTensors e = ref.all(), f = out.all();
  ASSERT_EQ(e.size(), f.size());
  for (size_t i = 0; i < e.size(); ++i) {
    EXPECT_EQ(f[i].second.scalar_type(), at::kFloat) << f[i].first;
    EXPECT_LT(rel_err(e[i].second, f[i].second), 1e-5) << f[i].first;
  }
}

INSTANTIATE_TEST_SUITE_P(EveryRegisteredOp, OpPaths, ::testing::ValuesIn(op_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace scanlab::ops
