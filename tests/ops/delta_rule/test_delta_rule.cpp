// (Gated) delta rule: hand-computed reference values; chunked WY/UT, Blelloch and step paths against
// the reference for odd lengths and several chunk sizes; gradients; strong decay; float32 accuracy.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/check.h"
#include "ops/delta_rule/delta_rule.h"
#include "support/expect_close.h"
#include "support/op_test_util.h"

namespace scanlab::ops {
namespace {

using scanlab::testing::expect_close;
using scanlab::testing::expect_same_gradients;
using scanlab::testing::rel_err;
using scanlab::testing::Rng;

// Keys L2-normalized and β in (0, 1), as Gated DeltaNet feeds them (keeps I - βkkᵀ a contraction).
DeltaRuleArgs random_args(bool gated, int64_t B, int64_t T, int64_t H, int64_t K, int64_t V, uint64_t seed,
                          bool with_h0 = true) {
  Rng rng(seed);
  DeltaRuleArgs a;
  a.q = rng.randn({B, T, H, K}) * 0.5;
  auto k = rng.randn({B, T, H, K});
  a.k = k / k.norm(2, -1, true);
  a.v = rng.randn({B, T, H, V});
  a.beta = at::sigmoid(rng.randn({B, T, H}));
  if (gated) a.log_a = rng.log_gate({B, T, H}, 2.0);
  if (with_h0) a.h0 = rng.randn({B, H, K, V});
  return a;
}

std::string name(bool gated) { return gated ? "gated" : "ungated"; }

// H = 1, K = 2, V = 1. t0: k=[1,0] v=2 β=1/2 -> u = 1/2·(2-0) = 1, h=[1,0]; q=[1,1] -> o=1.
// t1: k=[0.6,0.8] v=1 β=1, q=[1,0]. Ungated: hᵀk=0.6, u=0.4, h=[1.24,0.32], o=1.24.
// Gated α=1/2: h=[0.5,0], hᵀk=0.3, u=0.7, h=[0.92,0.56], o=0.92.
TEST(DeltaRuleRef, HandComputedTwoTokens) {
  for (bool gated : {false, true}) {
    SCOPED_TRACE(name(gated));
    DeltaRuleArgs a;
    a.q = at::tensor({1., 1., 1., 0.}, at::kDouble).view({1, 2, 1, 2});
    a.k = at::tensor({1., 0., 0.6, 0.8}, at::kDouble).view({1, 2, 1, 2});
    a.v = at::tensor({2., 1.}, at::kDouble).view({1, 2, 1, 1});
    a.beta = at::tensor({0.5, 1.0}, at::kDouble).view({1, 2, 1});
    if (gated) a.log_a = at::tensor({0.0, std::log(0.5)}, at::kDouble).view({1, 2, 1});
    a.chunk_len = 2;
    auto expected_o = at::tensor({1.0, gated ? 0.92 : 1.24}, at::kDouble).view({1, 2, 1, 1});
    auto expected_h =
        (gated ? at::tensor({0.92, 0.56}, at::kDouble) : at::tensor({1.24, 0.32}, at::kDouble)).view({1, 1, 2, 1});
    for (const auto& out : {delta_rule_ref(a), delta_rule_chunked(a), delta_rule_blelloch(a)}) {
      expect_close("o", expected_o, out.o, 1e-14);
      expect_close("h", expected_h, out.h_final, 1e-14);
    }
  }
}

TEST(DeltaRulePaths, ChunkedAndBlellochMatchReferenceInFloat64) {
  for (bool gated : {false, true})
    for (int64_t T : {1, 7, 63, 100})
      for (int64_t chunk : {1, 16, 64}) {
        SCOPED_TRACE(name(gated) + " T=" + std::to_string(T) + " chunk=" + std::to_string(chunk));
        auto a = random_args(gated, 2, T, 2, 8, 5, 60 + T);
        a.chunk_len = chunk;
        auto ref = delta_rule_ref(a), out = delta_rule_chunked(a);
        expect_close("o", ref.o, out.o, 1e-10);
        expect_close("h_final", ref.h_final, out.h_final, 1e-10);
        if (chunk == 16) {
          auto bl = delta_rule_blelloch(a);
          expect_close("blelloch o", ref.o, bl.o, 1e-10);
          expect_close("blelloch h_final", ref.h_final, bl.h_final, 1e-10);
        }
      }
}

TEST(DeltaRulePaths, PrefillThenStepReplaysReference) {
  for (bool gated : {false, true}) {
    SCOPED_TRACE(name(gated));
    const int64_t T = 22, split = 11;
    auto a = random_args(gated, 2, T, 2, 4, 3, 12);
    auto ref = delta_rule_ref(a);
    DeltaRuleArgs head = a;
    for (auto* t : {&head.q, &head.k, &head.v, &head.beta, &head.log_a})
      if (t->defined()) *t = t->narrow(1, 0, split);
    head.chunk_len = 4;
    at::Tensor h = delta_rule_chunked(head).h_final;
    for (int64_t t = split; t < T; ++t) {
      DeltaRuleStepArgs s{a.q.select(1, t), a.k.select(1, t), a.v.select(1, t), a.beta.select(1, t),
                          gated ? a.log_a.select(1, t) : at::Tensor()};
      expect_close("step o t=" + std::to_string(t), ref.o.select(1, t), delta_rule_step(s, h), 1e-12);
    }
    expect_close("h after steps", ref.h_final, h, 1e-12);
  }
}

TEST(DeltaRulePaths, ChunkedGradientsMatchReferenceAutograd) {
  auto a = random_args(true, 2, 27, 2, 4, 3, 21);
  Rng rng(3);
  auto w_o = rng.randn({2, 27, 2, 3}), w_h = rng.randn({2, 2, 4, 3});
  std::vector<at::Tensor> inputs = {a.q, a.k, a.v, a.beta, a.log_a, a.h0};
  auto loss_with = [&](DeltaRuleOut (*path)(const DeltaRuleArgs&)) {
    return [&, path](const std::vector<at::Tensor>& x) {
      auto out = path(DeltaRuleArgs{x[0], x[1], x[2], x[3], x[4], x[5], 8});
      return (out.o * w_o).sum() + (out.h_final * w_h).sum();
    };
  };
  expect_same_gradients(loss_with(&delta_rule_ref), loss_with(&delta_rule_chunked), inputs, 1e-10);
}

TEST(DeltaRulePaths, StrongDecayLongSequenceStaysFinite) {
  for (auto dt : {at::kFloat, at::kDouble}) {
    auto a = random_args(true, 1, 4096, 1, 4, 4, 8, false);
    a.log_a = at::full_like(a.log_a, -20.0);
    auto ref = delta_rule_ref(a);
    for (auto* t : {&a.q, &a.k, &a.v, &a.beta, &a.log_a}) *t = t->to(dt);
    auto leaf = a.q.clone().requires_grad_(true);
    a.q = leaf;
    auto out = delta_rule_chunked(a);
    ASSERT_TRUE(out.o.isfinite().all().item<bool>());
    out.o.sum().backward();
    ASSERT_TRUE(leaf.grad().isfinite().all().item<bool>());
    expect_close("o vs float64 reference", ref.o, out.o, dt == at::kFloat ? 1e-5 : 1e-12);
  }
}

TEST(DeltaRulePaths, Float32ChunkedMatchesFloat64Reference) {
  for (bool gated : {false, true}) {
    SCOPED_TRACE(name(gated));
    auto a = random_args(gated, 2, 200, 2, 16, 8, 33);
    auto ref = delta_rule_ref(a);
    for (auto* t : {&a.q, &a.k, &a.v, &a.beta, &a.log_a, &a.h0})
      if (t->defined()) *t = t->to(at::kFloat);
    auto out = delta_rule_chunked(a);
    EXPECT_LT(rel_err(ref.o, out.o), 1e-5);
    EXPECT_LT(rel_err(ref.h_final, out.h_final), 1e-5);
  }
}

TEST(DeltaRuleArgsCheck, BadBetaShapeIsNamed) {
  auto a = random_args(true, 1, 5, 2, 4, 3, 1);
  a.beta = a.beta.narrow(2, 0, 1);
  try {
    delta_rule_chunked(a);
    FAIL() << "expected scanlab::Error";
  } catch (const scanlab::Error& e) {
    EXPECT_NE(std::string(e.what()).find("beta has shape [1, 5, 1]; expected [1, 5, 2]"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace scanlab::ops
