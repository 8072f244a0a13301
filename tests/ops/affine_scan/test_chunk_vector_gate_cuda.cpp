// The fused chunked kernels for the vector (per-key) gate, GLA (ops/affine_scan/cuda/chunk_vector_gate.cu),
// against the float64 token loop on the CPU: outputs, final state and the gradients of q, k, v, log a
// (per key) and h0 (a loss weighting o and the final state), at lengths with a partial last chunk,
// every K x V of 64 and 128, mild and strong decay. Outputs and scratch start as NaN, so an element the
// kernels never write fails. Skips without a GPU of compute capability 8.0 or later.
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <string>
#include <vector>

#include "core/check.h"
#include "ops/affine_scan/affine_scan.h"
#include "support/op_test_util.h"

namespace scanlab::ops {
namespace {

using scanlab::testing::grads_of;
using scanlab::testing::rel_rms;
using scanlab::testing::Rng;

bool fused_available() {
  if (!torch::cuda::is_available()) return false;
  const auto x = at::zeros({1, 1, 1, 64}, at::TensorOptions().dtype(at::kBFloat16).device(at::kCUDA));
  return affine_scan_chunked_vector_gate_cuda_supports({x, x, x, x.to(at::kFloat), {}, 64});
}

TEST(ChunkVectorGateCuda, DeclinesWhatItCannotRun) {
  const auto cpu = at::zeros({1, 4, 1, 64}, at::kBFloat16);
  EXPECT_FALSE(affine_scan_chunked_vector_gate_cuda_supports({cpu, cpu, cpu, cpu.to(at::kFloat), {}, 64}));
  EXPECT_THROW(affine_scan_chunked_vector_gate_cuda({cpu, cpu, cpu, cpu.to(at::kFloat), {}, 64}), scanlab::Error);
  if (!torch::cuda::is_available()) return;
  const auto opts = at::TensorOptions().device(at::kCUDA);
  const auto gate = at::zeros({1, 4, 1, 64}, opts.dtype(at::kFloat));
  const auto f32 = at::zeros({1, 4, 1, 64}, opts.dtype(at::kFloat));
  const auto odd = at::zeros({1, 4, 1, 32}, opts.dtype(at::kBFloat16));
  const auto bf = at::zeros({1, 4, 1, 64}, opts.dtype(at::kBFloat16));
  EXPECT_FALSE(affine_scan_chunked_vector_gate_cuda_supports({f32, f32, f32, gate, {}, 64}));  // float32: torch path
  EXPECT_FALSE(affine_scan_chunked_vector_gate_cuda_supports({odd, odd, odd, odd.to(at::kFloat), {}, 64}));  // K 32
  EXPECT_FALSE(affine_scan_chunked_vector_gate_cuda_supports({bf, bf, bf, {}, {}, 64}));  // identity gate
  const auto scalar = at::zeros({1, 4, 1}, opts);
  EXPECT_FALSE(affine_scan_chunked_vector_gate_cuda_supports({bf, bf, bf, scalar, {}, 64}));  // scalar gate
  // And the scalar-gate kernels leave the vector gate to these.
  EXPECT_FALSE(affine_scan_chunked_cuda_supports({bf, bf, bf, gate, {}, 64}));
}

struct Case {
  int64_t B, T, H, K, V;
  double gate_bias;  // log a = log sigmoid(N(bias, 1)) per key; a negative bias decays strongly
  bool with_h0;
};

std::string describe(const Case& c) {
  return "B " + std::to_string(c.B) + " T " + std::to_string(c.T) + " H " + std::to_string(c.H) + " K " +
         std::to_string(c.K) + " V " + std::to_string(c.V) + " gate bias " + std::to_string(c.gate_bias) +
         (c.with_h0 ? " with h0" : "");
}

TEST(ChunkVectorGateCuda, OutputsAndGradientsMatchFloat64TokenLoop) {
  if (!fused_available()) GTEST_SKIP() << "no CUDA device of compute capability 8.0 or later";
  const Case cases[] = {{2, 63, 2, 64, 64, 3.0, false},
                        {2, 100, 2, 64, 128, -3.0, true},
                        {1, 257, 2, 128, 64, 1.0, true},
                        {1, 1000, 2, 128, 128, 3.0, true},
                        {1, 257, 1, 128, 128, -3.0, false},
                        {1, 100, 3, 128, 64, -3.0, true},
                        {1, 1000, 1, 64, 64, -1.0, false},
                        {3, 64, 1, 64, 128, 3.0, true},
                        {1, 63, 2, 128, 128, 0.0, true},
                        {1, 1000, 1, 64, 128, -3.0, true},
                        // log a ≈ -1e-13: no decay, which isolates the products from the gate's exponents
                        {1, 130, 1, 64, 64, 30.0, true}};
  for (const auto& c : cases) {
    SCOPED_TRACE(describe(c));
    Rng rng(c.T + c.K + c.V);
    auto k = rng.randn({c.B, c.T, c.H, c.K});
    // bf16-rounded inputs, which both sides see; the gate and h0 stay float32 (the state dtype).
    std::vector<at::Tensor> x{
        (rng.randn({c.B, c.T, c.H, c.K}) * 0.5).to(at::kBFloat16), (k / k.norm(2, -1, true)).to(at::kBFloat16),
        rng.randn({c.B, c.T, c.H, c.V}).to(at::kBFloat16), rng.log_gate({c.B, c.T, c.H, c.K}, c.gate_bias, at::kFloat)};
    const int h0_at = c.with_h0 ? static_cast<int>(x.size()) : -1;
    if (c.with_h0) x.push_back(rng.randn({c.B, c.H, c.K, c.V}, at::kFloat));
    const auto w_o = rng.randn({c.B, c.T, c.H, c.V}), w_h = rng.randn({c.B, c.H, c.K, c.V});
    auto args = [&](const std::vector<at::Tensor>& in) {
      return AffineScanArgs{in[0], in[1], in[2], in[3], h0_at >= 0 ? in[h0_at] : at::Tensor(), 64};
    };
    auto loss_of = [&](const AffineScanOut& out) {
      return (out.o.to(at::kCPU, at::kDouble) * w_o).sum() + (out.h_final.to(at::kCPU, at::kDouble) * w_h).sum();
    };
    std::vector<at::Tensor> ref_in, gpu_in;
    for (const auto& t : x) ref_in.push_back(t.to(at::kDouble)), gpu_in.push_back(t.to(at::kCUDA));
    const auto ref = affine_scan_ref(args(ref_in));
    ASSERT_TRUE(affine_scan_chunked_vector_gate_cuda_supports(args(gpu_in)));
    const auto out = affine_scan_chunked_vector_gate_cuda(args(gpu_in), /*poison_outputs=*/true);
    EXPECT_EQ(out.o.scalar_type(), at::kBFloat16);
    EXPECT_EQ(out.h_final.scalar_type(), at::kFloat);
    ASSERT_TRUE(out.o.isfinite().all().item<bool>());
    ASSERT_TRUE(out.h_final.isfinite().all().item<bool>());
    EXPECT_LT(rel_rms(ref.o, out.o.to(at::kCPU)), 1.5e-2) << "o";
    EXPECT_LT(rel_rms(ref.h_final, out.h_final.to(at::kCPU)), 1e-2) << "final state";
    // The routed entry point takes the same kernels, and they are deterministic.
    const auto again = affine_scan_chunked(args(gpu_in));
    EXPECT_TRUE(at::equal(again.o, out.o)) << "max |difference| " << (again.o - out.o).abs().max().item<float>()
                                           << " at " << (again.o - out.o).abs().argmax().item<int64_t>();
    EXPECT_TRUE(at::equal(again.h_final, out.h_final))
        << "final state: max |difference| " << (again.h_final - out.h_final).abs().max().item<float>();
    const auto third = affine_scan_chunked(args(gpu_in));
    EXPECT_TRUE(at::equal(again.o, third.o))
        << "unpoisoned runs differ by " << (again.o - third.o).abs().max().item<float>();
    using Inputs = std::vector<at::Tensor>;
    const auto g_ref = grads_of([&](const Inputs& in) { return loss_of(affine_scan_ref(args(in))); }, ref_in);
    auto fused_grads = [&] {
      return grads_of([&](const Inputs& in) { return loss_of(affine_scan_chunked_vector_gate_cuda(args(in), true)); },
                      gpu_in);
    };
    const auto g = fused_grads();
    const char* names[] = {"q", "k", "v", "log a", "h0"};
    for (size_t i = 0; i < g.size(); ++i) {
      ASSERT_TRUE(g[i].isfinite().all().item<bool>()) << "grad of " << names[i];
      EXPECT_LT(rel_rms(g_ref[i], g[i].to(at::kCPU)), 2e-2) << "grad of " << names[i];
    }
    const auto g_again = fused_grads();
    for (size_t i = 0; i < g.size(); ++i)
      EXPECT_TRUE(at::equal(g[i], g_again[i]))
          << "grad of " << names[i] << " differs run to run by " << (g[i] - g_again[i]).abs().max().item<double>();
  }
}

TEST(ChunkVectorGateCuda, SwitchedOffTakesTheTorchForm) {
  if (!fused_available()) GTEST_SKIP() << "no CUDA device of compute capability 8.0 or later";
  Rng rng(11);
  const auto bf = [&](at::IntArrayRef s) { return rng.randn(s).to(at::kCUDA, at::kBFloat16); };
  const AffineScanArgs a{bf({1, 100, 2, 64}),
                         bf({1, 100, 2, 64}),
                         bf({1, 100, 2, 64}),
                         rng.log_gate({1, 100, 2, 64}, 2.0, at::kFloat).to(at::kCUDA),
                         {},
                         64};
  set_fused_chunked_kernels(false);
  const auto off = affine_scan_chunked(a);
  set_fused_chunked_kernels(true);
  const auto torch_form = affine_scan_chunked_torch(a);
  EXPECT_LT(rel_rms(torch_form.o.to(at::kFloat), off.o.to(at::kFloat)), 1e-6);
  const auto fused = affine_scan_chunked(a);
  EXPECT_TRUE(at::equal(fused.o, affine_scan_chunked_vector_gate_cuda(a).o));
}

TEST(ChunkVectorGateCuda, SixteenThousandTokensWithStrongDecayStayFinite) {
  if (!fused_available()) GTEST_SKIP() << "no CUDA device of compute capability 8.0 or later";
  Rng rng(5);
  const auto opts = at::TensorOptions().device(at::kCUDA);
  const int64_t B = 1, T = 16384, H = 2, K = 128, V = 128;
  // Half the keys decay by e^{-20} a token, the other half barely: both ends of the exponent range.
  const auto log_a = at::cat({at::full({B, T, H, K / 2}, -20.0, opts), at::full({B, T, H, K / 2}, -1e-3, opts)}, 3);
  std::vector<at::Tensor> x{rng.randn({B, T, H, K}).to(at::kCUDA, at::kBFloat16),
                            rng.randn({B, T, H, K}).to(at::kCUDA, at::kBFloat16),
                            rng.randn({B, T, H, V}).to(at::kCUDA, at::kBFloat16), log_a};
  for (auto& t : x) t.requires_grad_(true);
  const auto out = affine_scan_chunked_vector_gate_cuda({x[0], x[1], x[2], x[3], {}, 64}, true);
  ASSERT_TRUE(out.o.isfinite().all().item<bool>());
  ASSERT_TRUE(out.h_final.isfinite().all().item<bool>());
  (out.o.to(at::kFloat).sum() + out.h_final.sum()).backward();
  for (const auto& t : x) ASSERT_TRUE(t.grad().isfinite().all().item<bool>());
}

}  // namespace
}  // namespace scanlab::ops
