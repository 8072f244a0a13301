// mLSTM: the reference, chunked and Blelloch paths against hand-computed values, and huge input gates
// with strong forget decay. The paths against one another (odd lengths, step replay, gradients, strong
// decay, float32) are the shared op test's: tests/ops/test_op_paths.cpp.
#include <gtest/gtest.h>

#include <cmath>

#include "ops/affine_scan/mlstm.h"
#include "support/expect_close.h"
#include "support/op_test_util.h"

namespace scanlab::ops {
namespace {

using scanlab::testing::expect_close;
using scanlab::testing::rel_err;
using scanlab::testing::Rng;

MlstmArgs random_args(int64_t B, int64_t T, int64_t H, int64_t K, int64_t V, uint64_t seed, bool with_state = true) {
  Rng rng(seed);
  MlstmArgs a;
  a.q = rng.randn({B, T, H, K}) * 0.5;
  a.k = rng.randn({B, T, H, K}) * 0.5;
  a.v = rng.randn({B, T, H, V});
  a.log_f = rng.log_gate({B, T, H}, 2.0);
  a.log_i = rng.randn({B, T, H}) * 2.0;
  if (with_state) a.state0 = {rng.randn({B, H, K, V}), rng.randn({B, H, K}).abs(), rng.randn({B, H})};
  return a;
}

// K = V = H = 1. t0: q=1 k=1 v=2, f=1/2, i=1 -> C=2, n=1, o = 2/max(1,1) = 2.
// t1: q=1/2 k=2 v=1, f=1/2, i=e -> C = 1+2e, n = 1/2+2e, o = (1/2)(1+2e) / max((1/2)(1/2+2e), 1).
// The second case scales q0 to 0.1 so that the lower bound 1 wins at t0: o0 = 0.2 / max(0.1, 1).
TEST(MlstmRef, HandComputedTwoTokens) {
  const double e = std::exp(1.0);
  for (double q0 : {1.0, 0.1}) {
    MlstmArgs a;
    a.q = at::tensor({q0, 0.5}, at::kDouble).view({1, 2, 1, 1});
    a.k = at::tensor({1.0, 2.0}, at::kDouble).view({1, 2, 1, 1});
    a.v = at::tensor({2.0, 1.0}, at::kDouble).view({1, 2, 1, 1});
    a.log_f = at::tensor({std::log(0.5), std::log(0.5)}, at::kDouble).view({1, 2, 1});
    a.log_i = at::tensor({0.0, 1.0}, at::kDouble).view({1, 2, 1});
    const double o0 = q0 * 2.0 / std::max(q0 * 1.0, 1.0);
    const double o1 = 0.5 * (1 + 2 * e) / std::max(0.5 * (0.5 + 2 * e), 1.0);
    auto expected = at::tensor({o0, o1}, at::kDouble).view({1, 2, 1, 1});
    a.chunk_len = 1;
    for (const auto& out : {mlstm_ref(a), mlstm_chunked(a), mlstm_blelloch(a)}) {
      expect_close("o", expected, out.o, 1e-14);
      // Unstabilized C = e^m C̃ = 1 + 2e.
      expect_close("C", at::full({1, 1, 1, 1}, 1 + 2 * e, at::kDouble), out.state.C * out.state.m.exp(), 1e-13);
    }
  }
}

// Forget decay e^-20 per step over 4096 tokens and input gates up to e^60 (which overflow float32
// unstabilized): everything stays finite and matches the float64 reference.
TEST(MlstmPaths, StrongDecayAndHugeInputGatesStayFinite) {
  for (auto dt : {at::kFloat, at::kDouble}) {
    auto a = random_args(1, 4096, 1, 4, 4, 6, false);
    a.log_f = at::full_like(a.log_f, -20.0);
    a.log_i = a.log_i * 20.0;
    auto ref = mlstm_ref(a);
    for (auto* t : {&a.q, &a.k, &a.v, &a.log_f, &a.log_i}) *t = t->to(dt);
    auto leaf = a.q.clone().requires_grad_(true);
    a.q = leaf;
    auto out = mlstm_chunked(a);
    ASSERT_TRUE(out.o.isfinite().all().item<bool>());
    out.o.sum().backward();
    ASSERT_TRUE(leaf.grad().isfinite().all().item<bool>());
    // float32 rounds log i ~ 40 to ~2e-6 absolute, a relative error of that size in the weights.
    if (dt == at::kFloat)
      EXPECT_LT(rel_err(ref.o, out.o), 2e-5);
    else
      expect_close("o vs float64 reference", ref.o, out.o, 1e-10);
  }
}

}  // namespace
}  // namespace scanlab::ops
