// (Gated) delta rule: the reference, chunked WY/UT and Blelloch paths against hand-computed values, and
// argument checks. The paths against one another (odd lengths and chunks, step replay, gradients,
// strong decay, float32) are the shared op test's: tests/ops/test_op_paths.cpp.
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
using scanlab::testing::Rng;

// Keys L2-normalized and β in (0, 1), as Gated DeltaNet feeds them (keeps I - βkkᵀ a contraction).
DeltaRuleArgs random_args(bool gated, int64_t B, int64_t T, int64_t H, int64_t K, int64_t V, uint64_t seed) {
  Rng rng(seed);
  DeltaRuleArgs a;
  a.q = rng.randn({B, T, H, K}) * 0.5;
  auto k = rng.randn({B, T, H, K});
  a.k = k / k.norm(2, -1, true);
  a.v = rng.randn({B, T, H, V});
  a.beta = at::sigmoid(rng.randn({B, T, H}));
  if (gated) a.log_a = rng.log_gate({B, T, H}, 2.0);
  a.h0 = rng.randn({B, H, K, V});
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
