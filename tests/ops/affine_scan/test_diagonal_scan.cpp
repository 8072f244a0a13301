// The fused diagonal-gate scan with V = 1 (Mamba/S6): forward and every gradient against the
// token-loop reference with autograd, in float64 (tight) and float32, for lengths around the
// checkpoint stride, K across warp boundaries, broadcast q/k as selective_scan_args builds them,
// strong decay, each output alone in the loss; on CUDA (skipped without a GPU) float32 against the
// float64 CPU reference; and which arguments it refuses.
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <functional>
#include <string>
#include <vector>

#include "core/check.h"
#include "ops/affine_scan/diagonal_scan.h"
#include "support/expect_close.h"
#include "support/op_test_util.h"

namespace scanlab::ops {
namespace {

using scanlab::testing::expect_close;
using scanlab::testing::rel_err;
using scanlab::testing::Rng;

struct Case {
  int64_t B, T, H, K;
  double gate_bias;  // log_a = log sigmoid(N(bias, 1)): 2 mild, -3 strong decay
  bool h0;
};

std::string label(const Case& c) {
  return "B" + std::to_string(c.B) + " T" + std::to_string(c.T) + " H" + std::to_string(c.H) + " K" +
         std::to_string(c.K) + (c.h0 ? " h0" : "") + " bias " + std::to_string(c.gate_bias);
}

// q, k, v, log_a (, h0) as doubles on the CPU.
std::vector<at::Tensor> random_inputs(const Case& c, uint64_t seed) {
  Rng rng(seed);
  std::vector<at::Tensor> in = {rng.randn({c.B, c.T, c.H, c.K}) * 0.5, rng.randn({c.B, c.T, c.H, c.K}) * 0.5,
                                rng.randn({c.B, c.T, c.H, 1}), rng.log_gate({c.B, c.T, c.H, c.K}, c.gate_bias)};
  if (c.h0) in.push_back(rng.randn({c.B, c.H, c.K, 1}));
  return in;
}

AffineScanArgs args_of(const std::vector<at::Tensor>& in) {
  AffineScanArgs a;
  a.q = in[0];
  a.k = in[1];
  a.v = in[2];
  a.log_a = in[3];
  if (in.size() > 4) a.h0 = in[4];
  return a;
}

// Gradients of loss(inputs) for every input; an input the loss does not use gets zeros.
std::vector<at::Tensor> grads_of(const std::function<at::Tensor(const std::vector<at::Tensor>&)>& loss,
                                 const std::vector<at::Tensor>& inputs) {
  std::vector<at::Tensor> leaves;
  for (const auto& t : inputs) leaves.push_back(t.detach().clone().requires_grad_(true));
  auto g = torch::autograd::grad({loss(leaves)}, leaves, {}, c10::nullopt, false, /*allow_unused=*/true);
  for (size_t i = 0; i < g.size(); ++i)
    if (!g[i].defined()) g[i] = at::zeros_like(leaves[i]);
  return g;
}

// The loss weighs o and h_final by fixed random tensors; `which` picks o, h_final or both.
enum class Use { Output, FinalState, Both };

at::Tensor loss_of(const AffineScanOut& out, Use which, const at::Tensor& wo, const at::Tensor& wh) {
  at::Tensor l = at::zeros({}, out.o.options().dtype(at::kDouble));
  if (which != Use::FinalState) l = l + (out.o.to(at::kDouble) * wo).sum();
  if (which != Use::Output) l = l + (out.h_final.to(at::kDouble) * wh).sum();
  return l;
}

// Checks the fused op on `device` / `dtype` against the float64 CPU token loop: outputs and the
// gradient of every input.
void check_against_reference(const Case& c, Use which, const at::Device& device, at::ScalarType dtype, double tol) {
  const auto in = random_inputs(c, 11 + c.T + c.K);
  Rng rng(5);
  const at::Tensor wo = rng.randn({c.B, c.T, c.H, 1}), wh = rng.randn({c.B, c.H, c.K, 1});
  const AffineScanOut ref = affine_scan_ref(args_of(in));
  std::vector<at::Tensor> moved;
  for (const auto& t : in) moved.push_back(t.to(device, dtype));
  const AffineScanOut fused = affine_scan_diagonal_single_value(args_of(moved));
  EXPECT_EQ(fused.o.scalar_type(), dtype);
  EXPECT_LT(rel_err(ref.o, fused.o.cpu()), tol) << label(c) << " o on " << device;
  EXPECT_LT(rel_err(ref.h_final, fused.h_final.cpu()), tol) << label(c) << " h_final on " << device;

  auto g_ref = grads_of(
      [&](const std::vector<at::Tensor>& x) { return loss_of(affine_scan_ref(args_of(x)), which, wo, wh); }, in);
  auto g_fused = grads_of(
      [&](const std::vector<at::Tensor>& x) {
        return loss_of(affine_scan_diagonal_single_value(args_of(x)), which, wo.to(device), wh.to(device)).cpu();
      },
      moved);
  const char* names[] = {"q", "k", "v", "log_a", "h0"};
  for (size_t i = 0; i < in.size(); ++i) {
    // Gradients that are zero by construction: q when only h_final counts, log_a when the state
    // before the only token is zero.
    const bool zero = (i == 0 && which == Use::FinalState) || (i == 3 && c.T == 1 && !c.h0);
    if (zero) {
      EXPECT_EQ(g_fused[i].abs().max().item<double>(), 0.0) << label(c) << " d" << names[i];
      continue;
    }
    EXPECT_GT(g_ref[i].abs().max().item<double>(), 0.0) << label(c) << " " << names[i];
    EXPECT_LT(rel_err(g_ref[i], g_fused[i].cpu()), tol) << label(c) << " d" << names[i] << " on " << device;
  }
}

const std::vector<Case> kCases = {
    {2, 1, 3, 1, 2.0, false},    // one token, one key
    {2, 37, 3, 3, 2.0, true},    // T not a multiple of the checkpoint stride
    {1, 64, 2, 16, 2.0, false},  // exactly two segments, Mamba's d_state
    {2, 70, 2, 33, 2.0, true},   // K over one warp
    {1, 45, 2, 8, -3.0, true},   // strong decay
};

TEST(DiagonalScan, MatchesTokenLoopAndItsGradientsInFloat64) {
  for (const auto& c : kCases)
    for (Use which : {Use::Output, Use::FinalState, Use::Both})
      check_against_reference(c, which, at::Device(at::kCPU), at::kDouble, 1e-10);
}

TEST(DiagonalScan, Float32StaysCloseToFloat64) {
  for (const auto& c : kCases) check_against_reference(c, Use::Both, at::Device(at::kCPU), at::kFloat, 2e-5);
}

TEST(DiagonalScan, TakesBroadcastSelectiveScanArguments) {
  // Mamba's layout: q = C and k = B broadcast over channels (expand, stride 0), v = Δ x.
  Rng rng(3);
  const int64_t B = 2, T = 41, D = 5, N = 4;
  const at::Tensor x = rng.randn({B, T, D}), delta = at::softplus(rng.randn({B, T, D})), A = -rng.rand({D, N}) - 0.5;
  const at::Tensor Bm = rng.randn({B, T, N}), Cm = rng.randn({B, T, N});
  const std::vector<at::Tensor> in = {x, delta, A, Bm, Cm};
  auto run = [&](bool fused) {
    return [fused](const std::vector<at::Tensor>& t) {
      const AffineScanArgs a = selective_scan_args(t[0], t[1], t[2], t[3], t[4]);
      const AffineScanOut o = fused ? affine_scan_diagonal_single_value(a) : affine_scan_ref(a);
      return o.o.pow(2).sum() + o.h_final.sum();
    };
  };
  EXPECT_NEAR(run(true)(in).item<double>(), run(false)(in).item<double>(), 1e-9);
  scanlab::testing::expect_same_gradients(run(false), run(true), in, 1e-9);
}

TEST(DiagonalScan, ChunkedDispatchRoutesMambaShapesToIt) {
  const auto in = random_inputs({2, 19, 3, 4, 2.0, true}, 7);
  AffineScanArgs a = args_of(in);
  a.chunk_len = 8;
  expect_close("affine_scan_chunked (V = 1) vs fused", affine_scan_diagonal_single_value(a).o, affine_scan_chunked(a).o,
               0.0);
}

TEST(DiagonalScan, RefusesOtherGatesAndWiderValues) {
  Rng rng(1);
  AffineScanArgs a;
  a.q = rng.randn({1, 4, 2, 3});
  a.k = rng.randn({1, 4, 2, 3});
  a.v = rng.randn({1, 4, 2, 2});
  a.log_a = rng.log_gate({1, 4, 2, 3}, 2.0);
  EXPECT_FALSE(affine_scan_diagonal_single_value_supports(a));  // V = 2
  try {
    affine_scan_diagonal_single_value(a);
    ADD_FAILURE() << "V = 2 was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("v [B, T, H, 1]"), std::string::npos) << e.what();
  }
  a.v = rng.randn({1, 4, 2, 1});
  EXPECT_TRUE(affine_scan_diagonal_single_value_supports(a));
  a.log_a = rng.log_gate({1, 4, 2}, 2.0);  // scalar gate
  EXPECT_FALSE(affine_scan_diagonal_single_value_supports(a));
  a.log_a = at::Tensor();  // identity
  EXPECT_FALSE(affine_scan_diagonal_single_value_supports(a));
}

TEST(DiagonalScanCuda, MatchesCpuFloat64) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  std::vector<Case> cases = kCases;
  cases.push_back({3, 130, 4, 100, 2.0, true});  // 4 warps, five segments
  cases.push_back({1, 33, 1, 64, -3.0, false});
  for (const auto& c : cases) check_against_reference(c, Use::Both, at::Device(at::kCUDA, 0), at::kFloat, 2e-4);
  check_against_reference(kCases[1], Use::Output, at::Device(at::kCUDA, 0), at::kFloat, 2e-4);
  check_against_reference(kCases[1], Use::FinalState, at::Device(at::kCUDA, 0), at::kFloat, 2e-4);
}

}  // namespace
}  // namespace scanlab::ops
