// The fused CUDA decode step (ops/affine_scan/cuda/affine_step.cu) against the float64 reference step,
// for identity, scalar and diagonal gates, over several steps in a row. Outputs are pre-filled with
// NaN so that an element the kernel never writes fails. Skips without a GPU (or a CUDA build).
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <limits>
#include <string>

#include "core/check.h"
#include "ops/affine_scan/affine_scan.h"
#include "support/expect_close.h"
#include "support/op_test_util.h"

namespace scanlab::ops {
namespace {

using scanlab::testing::expect_close;
using scanlab::testing::Rng;

AffineStepArgs random_step(GateKind gate, int64_t B, int64_t H, int64_t K, int64_t V, Rng& rng) {
  AffineStepArgs a{rng.randn({B, H, K}) * 0.5, rng.randn({B, H, K}) * 0.5, rng.randn({B, H, V}), at::Tensor()};
  if (gate == GateKind::Scalar) a.log_a = rng.log_gate({B, H}, 1.0);
  if (gate == GateKind::Diagonal) a.log_a = rng.log_gate({B, H, K}, 1.0);
  return a;
}

AffineStepArgs to_cuda_f32(const AffineStepArgs& a) {
  auto c = [](const at::Tensor& t) { return t.defined() ? t.to(at::kCUDA, at::kFloat) : at::Tensor(); };
  return {c(a.q), c(a.k), c(a.v), c(a.log_a)};
}

TEST(AffineScanStepCuda, DeclinesWhatItCannotRun) {
  Rng rng(1);
  auto a = random_step(GateKind::Scalar, 2, 2, 4, 3, rng);
  at::Tensor h = at::zeros({2, 2, 4, 3}, at::kDouble);
  EXPECT_FALSE(affine_scan_step_cuda_supports(a, h));  // CPU float64
  at::Tensor out = at::empty({2, 2, 3}, at::kFloat);
  EXPECT_THROW(affine_scan_step_cuda(a, h, out), scanlab::Error);
}

TEST(AffineScanStepCuda, MatchesReferenceStepOverManySteps) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  struct Shape {
    int64_t B, H, K, V;
  };
  // The last two take the float4 path (>= 1024 blocks of 128 columns; the second ends in a partial tile).
  const Shape shapes[] = {{3, 4, 64, 96}, {2, 64, 16, 1},    {2, 3, 130, 200},
                          {1, 1, 1, 1},   {64, 16, 16, 128}, {32, 40, 8, 132}};
  for (GateKind gate : {GateKind::Identity, GateKind::Scalar, GateKind::Diagonal})
    for (const auto& s : shapes) {
      SCOPED_TRACE("gate " + std::to_string(static_cast<int>(gate)) + " K=" + std::to_string(s.K) +
                   " V=" + std::to_string(s.V));
      Rng rng(42 + s.K);
      at::Tensor h_ref = rng.randn({s.B, s.H, s.K, s.V});
      at::Tensor h = h_ref.to(at::kCUDA, at::kFloat).contiguous();
      for (int step = 0; step < 8; ++step) {
        auto a = random_step(gate, s.B, s.H, s.K, s.V, rng);
        auto expected = affine_scan_step_torch(a, h_ref);
        auto ac = to_cuda_f32(a);
        ASSERT_TRUE(affine_scan_step_cuda_supports(ac, h));
        at::Tensor out = at::full({s.B, s.H, s.V}, std::numeric_limits<float>::quiet_NaN(),
                                  at::TensorOptions().dtype(at::kFloat).device(at::kCUDA));
        at::Tensor h_before = h.clone();
        affine_scan_step_cuda(ac, h, out);
        expect_close("o step " + std::to_string(step), expected, out.cpu(), 1e-4 * std::sqrt(double(s.K)));
        expect_close("h step " + std::to_string(step), h_ref, h.cpu(), 1e-4);
        // The dispatching entry point routes these arguments to the kernel: it agrees bit for bit.
        expect_close("dispatch o", out, affine_scan_step(ac, h_before), 0.0);
        expect_close("dispatch h", h, h_before, 0.0);
      }
    }
}

}  // namespace
}  // namespace scanlab::ops
