// Affine scan: the token-loop reference against hand-computed values, and every other path (chunked,
// Blelloch, step replay, prefill + step) against the reference, with odd lengths, several chunk sizes,
// all three gate kinds, gradients, strong decay over long sequences and float32 accuracy.
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
using scanlab::testing::expect_same_gradients;
using scanlab::testing::rel_err;
using scanlab::testing::Rng;

const GateKind kGates[] = {GateKind::Identity, GateKind::Scalar, GateKind::Diagonal};

std::string name(GateKind g) {
  return g == GateKind::Identity ? "identity" : g == GateKind::Scalar ? "scalar" : "diagonal";
}

AffineScanArgs random_args(GateKind gate, int64_t B, int64_t T, int64_t H, int64_t K, int64_t V, uint64_t seed,
                           bool with_h0 = true) {
  Rng rng(seed);
  AffineScanArgs a;
  a.q = rng.randn({B, T, H, K}) * 0.5;
  a.k = rng.randn({B, T, H, K}) * 0.5;
  a.v = rng.randn({B, T, H, V});
  if (gate == GateKind::Scalar) a.log_a = rng.log_gate({B, T, H}, 2.0);
  if (gate == GateKind::Diagonal) a.log_a = rng.log_gate({B, T, H, K}, 2.0);
  if (with_h0) a.h0 = rng.randn({B, H, K, V});
  return a;
}

AffineScanArgs with_dtype(AffineScanArgs a, at::ScalarType dt) {
  for (auto* t : {&a.q, &a.k, &a.v, &a.log_a, &a.h0})
    if (t->defined()) *t = t->to(dt);
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

TEST(AffineScanPaths, ChunkedMatchesReferenceInFloat64) {
  for (GateKind gate : kGates)
    for (int64_t T : {1, 7, 63, 100})
      for (int64_t chunk : {1, 16, 64}) {
        SCOPED_TRACE(name(gate) + " T=" + std::to_string(T) + " chunk=" + std::to_string(chunk));
        auto a = random_args(gate, 2, T, 3, 8, 5, 10 + T);
        a.chunk_len = chunk;
        auto ref = affine_scan_ref(a), out = affine_scan_chunked(a);
        expect_close("o", ref.o, out.o, 1e-10);
        expect_close("h_final", ref.h_final, out.h_final, 1e-10);
      }
}

TEST(AffineScanPaths, BlellochMatchesReferenceInFloat64) {
  for (GateKind gate : kGates)
    for (int64_t T : {1, 2, 7, 33}) {
      SCOPED_TRACE(name(gate) + " T=" + std::to_string(T));
      auto a = random_args(gate, 2, T, 2, 4, 3, 50 + T);
      auto ref = affine_scan_ref(a), out = affine_scan_blelloch(a);
      expect_close("o", ref.o, out.o, 1e-10);
      expect_close("h_final", ref.h_final, out.h_final, 1e-10);
    }
}

// Prefill the first part with the chunked path, then step token by token: equals the whole reference.
TEST(AffineScanPaths, PrefillThenStepReplaysReference) {
  for (GateKind gate : kGates) {
    SCOPED_TRACE(name(gate));
    const int64_t T = 21, split = 13;
    auto a = random_args(gate, 2, T, 2, 6, 4, 77);
    auto ref = affine_scan_ref(a);
    AffineScanArgs head = a;
    head.q = a.q.narrow(1, 0, split), head.k = a.k.narrow(1, 0, split), head.v = a.v.narrow(1, 0, split);
    if (a.log_a.defined()) head.log_a = a.log_a.narrow(1, 0, split);
    head.chunk_len = 4;
    auto pre = affine_scan_chunked(head);
    expect_close("prefill o", ref.o.narrow(1, 0, split), pre.o, 1e-12);
    at::Tensor h = pre.h_final;
    for (int64_t t = split; t < T; ++t) {
      AffineStepArgs s{a.q.select(1, t), a.k.select(1, t), a.v.select(1, t),
                       a.log_a.defined() ? a.log_a.select(1, t) : at::Tensor()};
      expect_close("step o t=" + std::to_string(t), ref.o.select(1, t), affine_scan_step(s, h), 1e-12);
    }
    expect_close("h after steps", ref.h_final, h, 1e-12);
  }
}

TEST(AffineScanPaths, ChunkedGradientsMatchReferenceAutograd) {
  for (GateKind gate : kGates) {
    SCOPED_TRACE(name(gate));
    auto a = random_args(gate, 2, 37, 2, 4, 3, 91);
    Rng rng(5);
    auto w_o = rng.randn({2, 37, 2, 3}), w_h = rng.randn({2, 2, 4, 3});
    std::vector<at::Tensor> inputs = {a.q, a.k, a.v, a.h0};
    if (a.log_a.defined()) inputs.push_back(a.log_a);
    auto loss_with = [&](AffineScanOut (*path)(const AffineScanArgs&)) {
      return [&, path](const std::vector<at::Tensor>& x) {
        AffineScanArgs b{x[0], x[1], x[2], x.size() > 4 ? x[4] : at::Tensor(), x[3], 8};
        auto out = path(b);
        return (out.o * w_o).sum() + (out.h_final * w_h).sum();
      };
    };
    expect_same_gradients(loss_with(&affine_scan_ref), loss_with(&affine_scan_chunked), inputs, 1e-10);
  }
}

// log decay -20 per step over 4096 tokens: cumulative decay e^-81920 would overflow any (Q⊙Γ)(K/Γ)ᵀ form.
TEST(AffineScanPaths, StrongDecayLongSequenceStaysFinite) {
  for (GateKind gate : {GateKind::Scalar, GateKind::Diagonal})
    for (auto dt : {at::kFloat, at::kDouble}) {
      SCOPED_TRACE(name(gate) + (dt == at::kFloat ? " f32" : " f64"));
      auto a = with_dtype(random_args(gate, 1, 4096, 1, 4, 4, 3, false), dt);
      a.log_a = at::full_like(a.log_a, -20.0);
      auto leaf = a.q.clone().requires_grad_(true);
      a.q = leaf;
      auto out = affine_scan_chunked(a);
      ASSERT_TRUE(out.o.isfinite().all().item<bool>());
      ASSERT_TRUE(out.h_final.isfinite().all().item<bool>());
      out.o.sum().backward();
      ASSERT_TRUE(leaf.grad().isfinite().all().item<bool>());
      auto ref = affine_scan_ref(with_dtype(AffineScanArgs{a.q.detach(), a.k, a.v, a.log_a}, at::kDouble));
      expect_close("o vs float64 reference", ref.o, out.o, dt == at::kFloat ? 1e-5 : 1e-12);
    }
}

TEST(AffineScanPaths, Float32ChunkedMatchesFloat64Reference) {
  for (GateKind gate : kGates) {
    SCOPED_TRACE(name(gate));
    auto a = random_args(gate, 2, 200, 2, 16, 8, 123);
    auto ref = affine_scan_ref(a);
    auto f32 = with_dtype(a, at::kFloat);
    auto out = affine_scan_chunked(f32);
    EXPECT_EQ(out.o.scalar_type(), at::kFloat);
    EXPECT_EQ(out.h_final.scalar_type(), at::kFloat);
    EXPECT_LT(rel_err(ref.o, out.o), 1e-5);
    EXPECT_LT(rel_err(ref.h_final, out.h_final), 1e-5);
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
