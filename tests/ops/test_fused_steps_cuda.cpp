// The fused CUDA decode steps of mLSTM (ops/affine_scan/cuda/affine_step.cu) and the gated delta
// rule (ops/delta_rule/cuda/delta_step.cu) against their float64 torch steps, several steps in a row
// from a random state, for shapes that leave partial column tiles and row groups (K = 130, V = 200),
// one-column heads and the largest supported K. Outputs are pre-filled with NaN so an element the
// kernel never writes fails. The dispatching entry points route bf16 inputs to the kernels and make a
// strided state contiguous. Skips without a GPU (or a CUDA build); the argument checks run anywhere.
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <cmath>
#include <limits>
#include <string>

#include "core/check.h"
#include "ops/affine_scan/mlstm.h"
#include "ops/delta_rule/delta_rule.h"
#include "support/expect_close.h"
#include "support/op_test_util.h"

namespace scanlab::ops {
namespace {

using scanlab::testing::expect_close;
using scanlab::testing::Rng;

struct Shape {
  int64_t B, H, K, V;
};

at::Tensor cuda32(const at::Tensor& t) { return t.defined() ? t.to(at::kCUDA, at::kFloat).contiguous() : at::Tensor(); }
at::Tensor nan_out(const Shape& s) {
  return at::full({s.B, s.H, s.V}, std::numeric_limits<float>::quiet_NaN(),
                  at::TensorOptions().dtype(at::kFloat).device(at::kCUDA));
}

MlstmStepArgs random_mlstm(const Shape& s, Rng& rng) {
  // Input-gate pre-activations up to ~ +8 exercise the stabilizer (exp(8) ~ 3000).
  return {rng.randn({s.B, s.H, s.K}) * 0.5, rng.randn({s.B, s.H, s.K}) * 0.5, rng.randn({s.B, s.H, s.V}),
          rng.log_gate({s.B, s.H}, 2.0), rng.randn({s.B, s.H}) * 4.0};
}

DeltaRuleStepArgs random_delta(const Shape& s, Rng& rng, bool gated) {
  auto k = rng.randn({s.B, s.H, s.K});
  return {rng.randn({s.B, s.H, s.K}) * 0.5, k / k.norm(2, -1, true), rng.randn({s.B, s.H, s.V}),
          at::sigmoid(rng.randn({s.B, s.H})), gated ? rng.log_gate({s.B, s.H}, 1.0) : at::Tensor()};
}

TEST(FusedStepCuda, DeclinesWhatItCannotRun) {
  Rng rng(1);
  const Shape s{2, 2, 4, 3};
  auto m = random_mlstm(s, rng);
  MlstmState ms = mlstm_zero_state(2, 2, 4, 3, at::TensorOptions().dtype(at::kDouble));
  EXPECT_FALSE(mlstm_step_cuda_supports(m, ms));  // CPU float64
  at::Tensor out = at::empty({2, 2, 3}, at::kFloat);
  EXPECT_THROW(mlstm_step_cuda(m, ms, out), scanlab::Error);
  auto d = random_delta(s, rng, true);
  at::Tensor h = at::zeros({2, 2, 4, 3}, at::kDouble);
  EXPECT_FALSE(delta_rule_step_cuda_supports(d, h));
  EXPECT_THROW(delta_rule_step_cuda(d, h, out), scanlab::Error);
  // Shape errors name the tensor, on every device.
  d.beta = rng.randn({2, 3});
  EXPECT_THROW(delta_rule_step(d, h), scanlab::Error);
}

TEST(FusedStepCuda, MlstmMatchesReferenceStep) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  // {64, 16, 32, 128}: 1024 heads of 128 columns, enough blocks for the float4-column kernel.
  for (const Shape& s :
       {Shape{3, 4, 64, 96}, Shape{2, 3, 130, 200}, Shape{2, 5, 16, 1}, Shape{1, 1, 1, 1}, Shape{64, 16, 32, 128}}) {
    SCOPED_TRACE("K=" + std::to_string(s.K) + " V=" + std::to_string(s.V));
    Rng rng(7 + s.K);
    MlstmState ref{rng.randn({s.B, s.H, s.K, s.V}), rng.randn({s.B, s.H, s.K}), rng.randn({s.B, s.H})};
    MlstmState gpu{cuda32(ref.C), cuda32(ref.n), cuda32(ref.m)};
    for (int step = 0; step < 8; ++step) {
      auto a = random_mlstm(s, rng);
      const at::Tensor expected = mlstm_step_torch(a, ref);
      MlstmStepArgs ac{cuda32(a.q), cuda32(a.k), cuda32(a.v), cuda32(a.log_f), cuda32(a.log_i)};
      ASSERT_TRUE(mlstm_step_cuda_supports(ac, gpu));
      at::Tensor out = nan_out(s);
      mlstm_step_cuda(ac, gpu, out);
      const std::string at_step = " step " + std::to_string(step);
      // float32 error model of o = qᵀC' / den per output: each sum carries ~K·eps of its absolute
      // terms, and the division passes on the normalizer's. A fixed bound fails on the 1024-head
      // shape, where some heads' qᵀn' nearly cancels and amplifies rounding (C, n, m still match).
      const at::Tensor den = at::maximum((a.q * ref.n).sum(-1).abs(), (-ref.m).exp()).unsqueeze(-1);
      const at::Tensor numerator_terms = (a.q.abs().unsqueeze(-1) * ref.C.abs()).sum(-2);
      const at::Tensor normalizer_terms = (a.q.abs() * ref.n.abs()).sum(-1, true);
      const at::Tensor bound = 1e-5 * (numerator_terms + expected.abs() * normalizer_terms) / den + 1e-6;
      const at::Tensor ratio = (out.cpu().to(at::kDouble) - expected).abs() / bound;
      EXPECT_LE(ratio.max().item<double>(), 1.0) << "o" << at_step << ": worst error / float32 bound";
      expect_close("C" + at_step, ref.C, gpu.C.cpu(), 1e-4);
      expect_close("n" + at_step, ref.n, gpu.n.cpu(), 1e-4);
      expect_close("m" + at_step, ref.m, gpu.m.cpu(), 1e-5);
    }
  }
}

TEST(FusedStepCuda, DeltaRuleMatchesReferenceStep) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  // Every rows-per-thread variant (K up to 32, 64, 128, 256), with one column per lane and, for the
  // 1024-head shapes, float4 columns.
  for (bool gated : {false, true})
    for (const Shape& s : {Shape{3, 4, 64, 96}, Shape{2, 3, 130, 200}, Shape{2, 2, 256, 33}, Shape{1, 1, 1, 1},
                           Shape{64, 16, 32, 128}, Shape{64, 16, 100, 128}, Shape{4, 2, 100, 64}, Shape{2, 3, 20, 8}}) {
      SCOPED_TRACE(std::string(gated ? "gated" : "ungated") + " K=" + std::to_string(s.K) +
                   " V=" + std::to_string(s.V));
      Rng rng(11 + s.K);
      at::Tensor h_ref = rng.randn({s.B, s.H, s.K, s.V});
      at::Tensor h = cuda32(h_ref);
      for (int step = 0; step < 8; ++step) {
        auto a = random_delta(s, rng, gated);
        const at::Tensor expected = delta_rule_step_torch(a, h_ref);
        DeltaRuleStepArgs ac{cuda32(a.q), cuda32(a.k), cuda32(a.v), cuda32(a.beta), cuda32(a.log_a)};
        ASSERT_TRUE(delta_rule_step_cuda_supports(ac, h));
        at::Tensor out = nan_out(s);
        delta_rule_step_cuda(ac, h, out);
        const std::string at_step = " step " + std::to_string(step);
        expect_close("o" + at_step, expected, out.cpu(), 1e-4 * std::sqrt(double(s.K)));
        expect_close("h" + at_step, h_ref, h.cpu(), 1e-4);
      }
    }
  Rng rng(3);
  const Shape too_wide{1, 1, 257, 4};
  auto a = random_delta(too_wide, rng, true);
  at::Tensor h = at::zeros({1, 1, 257, 4}, at::TensorOptions().dtype(at::kFloat).device(at::kCUDA));
  EXPECT_FALSE(
      delta_rule_step_cuda_supports({cuda32(a.q), cuda32(a.k), cuda32(a.v), cuda32(a.beta), cuda32(a.log_a)}, h));
}

TEST(FusedStepCuda, DispatchTakesBf16InputsAndStridedStates) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const Shape s{2, 3, 32, 40};
  Rng rng(5);
  auto bf16 = [](const at::Tensor& t) { return t.to(at::kCUDA, at::kBFloat16); };
  // mLSTM: a state whose C is a narrowed view (as the torch step leaves it) still reaches the kernel.
  MlstmState ref = mlstm_zero_state(s.B, s.H, s.K, s.V, at::TensorOptions().dtype(at::kDouble));
  at::Tensor wide = at::zeros({s.B, s.H, s.K, s.V + 1}, at::TensorOptions().dtype(at::kFloat).device(at::kCUDA));
  MlstmState gpu{wide.narrow(-1, 0, s.V), at::zeros({s.B, s.H, s.K}, wide.options()),
                 at::zeros({s.B, s.H}, wide.options())};
  auto a = random_mlstm(s, rng);
  // The reference sees the same bf16-rounded inputs, so only float32 arithmetic separates them.
  auto rounded = [](const at::Tensor& t) { return t.to(at::kBFloat16).to(at::kDouble); };
  const MlstmStepArgs ar{rounded(a.q), rounded(a.k), rounded(a.v), rounded(a.log_f), rounded(a.log_i)};
  const at::Tensor expected = mlstm_step_torch(ar, ref);
  at::NoGradGuard no_grad;
  const at::Tensor o = mlstm_step({bf16(a.q), bf16(a.k), bf16(a.v), bf16(a.log_f), bf16(a.log_i)}, gpu);
  EXPECT_EQ(o.scalar_type(), at::kBFloat16);
  EXPECT_TRUE(gpu.C.is_contiguous());
  expect_close("bf16 mlstm o", expected.to(at::kBFloat16).to(at::kDouble), o.to(at::kDouble).cpu(),
               0.01 * expected.abs().max().item<double>());
  expect_close("bf16 mlstm C", ref.C, gpu.C.cpu(), 1e-4);
  // Delta rule from a transposed (non-contiguous) state.
  at::Tensor h_ref = rng.randn({s.B, s.H, s.K, s.V});
  at::Tensor h = cuda32(h_ref.transpose(0, 1)).transpose(0, 1);
  ASSERT_FALSE(h.is_contiguous());
  auto d = random_delta(s, rng, true);
  const at::Tensor expected_d = delta_rule_step_torch(d, h_ref);
  const at::Tensor od = delta_rule_step({cuda32(d.q), cuda32(d.k), cuda32(d.v), cuda32(d.beta), cuda32(d.log_a)}, h);
  EXPECT_TRUE(h.is_contiguous());
  expect_close("delta o", expected_d, od.cpu(), 1e-4);
  expect_close("delta h", h_ref, h.cpu(), 1e-4);
}

}  // namespace
}  // namespace scanlab::ops
