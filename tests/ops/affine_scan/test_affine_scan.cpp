// Affine scan: the reference, chunked and Blelloch paths against hand-computed values, the Mamba/S6
// selective scan against a direct loop, and argument checks. The paths against one another (odd
// lengths, gradients, strong decay, float32) are the shared op test's: tests/ops/test_op_paths.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/check.h"
#include "ops/affine_scan/affine_scan.h"
#include "support/expect_close.h"
#include "support/op_test_util.h"

namespace scanlab::ops {
namespace {

using scanlab::testing::expect_close;
using scanlab::testing::Rng;

AffineScanArgs random_args(GateKind gate, int64_t B, int64_t T, int64_t H, int64_t K, int64_t V, uint64_t seed) {
  Rng rng(seed);
  AffineScanArgs a;
  a.q = rng.randn({B, T, H, K}) * 0.5;
  a.k = rng.randn({B, T, H, K}) * 0.5;
  a.v = rng.randn({B, T, H, V});
  if (gate == GateKind::Scalar) a.log_a = rng.log_gate({B, T, H}, 2.0);
  if (gate == GateKind::Diagonal) a.log_a = rng.log_gate({B, T, H, K}, 2.0);
  a.h0 = rng.randn({B, H, K, V});
  return a;
}

// Two tokens, H = 1, K = 2, V = 1, worked by hand:
//   t0: q=[1,0] k=[1,2] v=3 -> h=[3,6], o=3
//   t1: q=[1,1] k=[0,1] v=2, gate a -> h = a ⊙ [3,6] + [0,2], o = h_0 + h_1
TEST(AffineScanRef, HandComputedTwoTokens) {
  auto q = at::tensor({1., 0., 1., 1.}, at::kDouble).view({1, 2, 1, 2});
  auto k = at::tensor({1., 2., 0., 1.}, at::kDouble).view({1, 2, 1, 2});
  auto v = at::tensor({3., 2.}, at::kDouble).view({1, 2, 1, 1});
  struct Case {
    at::Tensor log_a;
    double o1;
    std::vector<double> h;
  };
  const double l2 = std::log(0.5), l4 = std::log(0.25);
  const Case cases[] = {
      {at::Tensor(), 11.0, {3.0, 8.0}},                                                  // identity
      {at::tensor({l2, l2}, at::kDouble).view({1, 2, 1}), 6.5, {1.5, 5.0}},              // scalar 0.5
      {at::tensor({l2, l4, l2, l4}, at::kDouble).view({1, 2, 1, 2}), 5.0, {1.5, 3.5}}};  // diagonal 0.5, 0.25
  for (const auto& c : cases) {
    AffineScanArgs a{q, k, v, c.log_a, at::Tensor(), 1};
    auto expected_o = at::tensor({3.0, c.o1}, at::kDouble).view({1, 2, 1, 1});
    auto expected_h = at::tensor(c.h, at::kDouble).view({1, 1, 2, 1});
    for (auto out : {affine_scan_ref(a), affine_scan_chunked(a), affine_scan_blelloch(a)}) {
      expect_close("o", expected_o, out.o, 1e-14);
      expect_close("h", expected_h, out.h_final, 1e-14);
    }
  }
}

// Mamba/S6 selective scan through the diagonal path vs a direct loop over channels and states.
TEST(AffineScanPaths, SelectiveScanMatchesDirectLoop) {
  Rng rng(8);
  const int64_t B = 2, T = 19, D = 3, N = 4;
  auto x = rng.randn({B, T, D}), delta = at::softplus(rng.randn({B, T, D}));
  auto A = -at::exp(rng.randn({D, N})), Bm = rng.randn({B, T, N}), Cm = rng.randn({B, T, N});
  auto h = at::zeros({B, D, N}, at::kDouble);
  std::vector<at::Tensor> ys;
  for (int64_t t = 0; t < T; ++t) {
    auto dt = delta.select(1, t).unsqueeze(-1);  // [B, D, 1]
    h = at::exp(dt * A) * h + dt * x.select(1, t).unsqueeze(-1) * Bm.select(1, t).unsqueeze(1);
    ys.push_back((h * Cm.select(1, t).unsqueeze(1)).sum(-1));
  }
  auto expected = at::stack(ys, 1);
  auto a = selective_scan_args(x, delta, A, Bm, Cm);
  a.chunk_len = 8;
  expect_close("selective scan chunked", expected, affine_scan_chunked(a).o.squeeze(-1), 1e-10);
  expect_close("selective scan ref", expected, affine_scan_ref(a).o.squeeze(-1), 1e-10);
}

TEST(AffineScanArgsCheck, BadShapesNameTheTensor) {
  auto a = random_args(GateKind::Scalar, 1, 5, 2, 4, 3, 1);
  auto bad_k = a;
  bad_k.k = a.k.narrow(3, 0, 3);
  EXPECT_THROW(
      {
        try {
          affine_scan_chunked(bad_k);
        } catch (const scanlab::Error& e) {
          EXPECT_NE(std::string(e.what()).find("k has shape [1, 5, 2, 3]; expected [1, 5, 2, 4]"), std::string::npos)
              << e.what();
          throw;
        }
      },
      scanlab::Error);
  auto bad_gate = a;
  bad_gate.log_a = at::zeros({1, 5, 3}, at::kDouble);
  EXPECT_THROW(affine_scan_ref(bad_gate), scanlab::Error);
  auto bad_chunk = a;
  bad_chunk.chunk_len = 0;
  EXPECT_THROW(affine_scan_chunked(bad_chunk), scanlab::Error);
}

}  // namespace
}  // namespace scanlab::ops
