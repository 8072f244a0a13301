// The delta rule's chunk recurrence kernel (ops/delta_rule/cuda/delta_chunk_recurrence.cu) against the
// float64 loop on the CPU: the three outputs and the gradients of every input (x and y as strided views
// of one solution, as the chunked form passes them), for NC = 1 .. 256, K / V of 64 and 128 and odd
// sizes (K 36 and 100 padded on chip, V 20 and 52 with a partial column tile, C 16 and 37), strong
// decay and none. Outputs and scratch start as NaN, so an element the kernel never writes fails; runs
// repeat bit for bit. The TF32 variant of the walk (the fused bf16 path's) against the same loop within
// TF32 rounding. Then delta_rule_chunked on the GPU against the float64 token loop. Skips without a GPU
// the kernel takes.
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <string>
#include <vector>

#include "ops/delta_rule/chunk_recurrence.h"
#include "ops/delta_rule/chunk_recurrence_inputs.h"
#include "ops/delta_rule/delta_rule.h"
#include "support/op_test_util.h"

namespace scanlab::ops {
namespace {

using scanlab::testing::grads_of;
using scanlab::testing::rel_rms;
using scanlab::testing::Rng;

std::vector<at::Tensor> cast(const std::vector<at::Tensor>& x, at::Device device, at::ScalarType dtype) {
  std::vector<at::Tensor> out;
  for (const auto& t : x) out.push_back(t.to(device, dtype));
  return out;
}

bool kernel_available() {
  if (!torch::cuda::is_available()) return false;
  return delta_chunk_recurrence_cuda_supports(
      recurrence_inputs(cast(recurrence_leaves({1, 1, 64, 128, 16, 2.0}, 1), at::kCUDA, at::kFloat), 16));
}

TEST(DeltaChunkRecurrenceCuda, DeclinesWhatItCannotRun) {
  const auto cpu = cast(recurrence_leaves({1, 2, 8, 8, 8, 2.0}, 1), at::kCPU, at::kFloat);
  EXPECT_FALSE(delta_chunk_recurrence_cuda_supports(recurrence_inputs(cpu, 8)));
  if (!torch::cuda::is_available()) return;
  auto declines = [](const RecurrenceCase& c, at::ScalarType dtype) {
    return !delta_chunk_recurrence_cuda_supports(
        recurrence_inputs(cast(recurrence_leaves(c, 1), at::kCUDA, dtype), c.V));
  };
  EXPECT_TRUE(declines({1, 2, 64, 64, 64, 2.0}, at::kDouble));  // float64 takes the loop
  EXPECT_TRUE(declines({1, 2, 64, 132, 64, 2.0}, at::kFloat));  // K > 128
  EXPECT_TRUE(declines({1, 2, 64, 6, 64, 2.0}, at::kFloat));    // K not a multiple of 4
  EXPECT_TRUE(declines({1, 2, 64, 64, 18, 2.0}, at::kFloat));   // V not a multiple of 4
  EXPECT_TRUE(declines({1, 2, 65, 64, 64, 2.0}, at::kFloat));   // C > 64
}

TEST(DeltaChunkRecurrenceCuda, OutputsAndGradientsMatchFloat64Loop) {
  if (!kernel_available())
    GTEST_SKIP() << "no CUDA device the kernel takes (compute capability 8.0+, 205 KB shared memory)";
  const RecurrenceCase cases[] = {{3, 1, 64, 64, 64, 2.0},    {2, 3, 64, 128, 128, 6.0},   {2, 17, 64, 64, 128, -3.0},
                                  {1, 17, 64, 128, 64, 30.0}, {1, 256, 64, 128, 128, 6.0}, {2, 256, 64, 64, 64, -3.0},
                                  {2, 17, 16, 36, 20, 1.0},   {1, 5, 37, 100, 52, 3.0}};
  for (const auto& c : cases) {
    SCOPED_TRACE("BH " + std::to_string(c.BH) + " NC " + std::to_string(c.NC) + " C " + std::to_string(c.C) + " K " +
                 std::to_string(c.K) + " V " + std::to_string(c.V) + " gate bias " + std::to_string(c.gate_bias));
    // float32-rounded inputs, which both sides see.
    const auto leaves32 = cast(recurrence_leaves(c, 11 + c.NC), at::kCPU, at::kFloat);
    const auto ref_in = cast(leaves32, at::kCPU, at::kDouble), gpu_in = cast(leaves32, at::kCUDA, at::kFloat);
    ASSERT_TRUE(delta_chunk_recurrence_cuda_supports(recurrence_inputs(gpu_in, c.V)));
    const auto ref = delta_chunk_recurrence_loop(recurrence_inputs(ref_in, c.V));
    const auto out = delta_chunk_recurrence_walk(recurrence_inputs(gpu_in, c.V), /*poison_outputs=*/true);
    const std::vector<std::pair<const char*, std::pair<at::Tensor, at::Tensor>>> outputs = {
        {"entering", {ref.entering, out.entering}}, {"u", {ref.u, out.u}}, {"final", {ref.final, out.final}}};
    for (const auto& [name, pair] : outputs) {
      ASSERT_TRUE(pair.second.isfinite().all().item<bool>()) << name << " has NaN or inf (an element never written?)";
      EXPECT_LT(rel_rms(pair.first, pair.second), 3e-5) << name;
    }
    // The routed entry takes the same kernel, and runs repeat bit for bit.
    const auto again = delta_chunk_recurrence(recurrence_inputs(gpu_in, c.V));
    EXPECT_TRUE(at::equal(again.entering, out.entering)) << "entering differs between runs";
    EXPECT_TRUE(at::equal(again.u, out.u)) << "u differs between runs";
    EXPECT_TRUE(at::equal(again.final, out.final)) << "final differs between runs";
    const RecurrenceLoss loss(c, 5);
    const auto g_ref = grads_of(
        [&](const std::vector<at::Tensor>& in) {
          return loss(delta_chunk_recurrence_loop(recurrence_inputs(in, c.V)));
        },
        ref_in);
    auto gpu_grads = [&](bool poison) {
      return grads_of(
          [&](const std::vector<at::Tensor>& in) {
            return loss(delta_chunk_recurrence_walk(recurrence_inputs(in, c.V), poison));
          },
          gpu_in);
    };
    const auto g = gpu_grads(true), g_again = gpu_grads(false);
    const char* names[] = {"sol (x | y)", "k_state", "gamma", "h0"};
    for (size_t i = 0; i < g.size(); ++i) {
      ASSERT_TRUE(g[i].isfinite().all().item<bool>()) << "grad of " << names[i];
      EXPECT_LT(rel_rms(g_ref[i], g[i]), 1e-4) << "grad of " << names[i];
      EXPECT_TRUE(at::equal(g[i], g_again[i])) << "grad of " << names[i] << " differs between runs";
    }
  }
}

// The walk with its products in TF32 on tensor cores (the fused bf16 path's): forward against the
// float64 loop, and the backward's reverse walk (with R and the signs flipped) against the float32
// walk, on the same cases. TF32 rounds each operand to 10 mantissa bits (relative 2^-11), so the
// bound is 5e-3 relative RMS where float32 FMA is held to 3e-5; every element is written (NaN
// poison), and runs repeat bit for bit. Both tile widths run: V 64 and 128 at BH 1-3 take 16
// columns a block, BH 256 x V 128 takes 32.
TEST(DeltaChunkRecurrenceCuda, Tf32WalkMatchesFloat64LoopWithinTf32Rounding) {
  if (!kernel_available()) GTEST_SKIP() << "no CUDA device the kernel takes";
  const RecurrenceCase cases[] = {{3, 1, 64, 64, 64, 2.0},     {2, 17, 64, 128, 128, 6.0}, {1, 256, 64, 128, 128, -3.0},
                                  {256, 4, 64, 128, 128, 2.0}, {2, 17, 16, 36, 20, 1.0},   {1, 5, 37, 100, 52, 3.0}};
  for (const auto& c : cases) {
    SCOPED_TRACE("BH " + std::to_string(c.BH) + " NC " + std::to_string(c.NC) + " C " + std::to_string(c.C) + " K " +
                 std::to_string(c.K) + " V " + std::to_string(c.V));
    const auto leaves32 = cast(recurrence_leaves(c, 23 + c.NC), at::kCPU, at::kFloat);
    const auto gpu = cast(leaves32, at::kCUDA, at::kFloat);
    const DeltaChunkInputs in = recurrence_inputs(gpu, c.V);
    const auto ref = delta_chunk_recurrence_loop(recurrence_inputs(cast(leaves32, at::kCPU, at::kDouble), c.V));
    const auto opts = gpu[0].options();
    auto run = [&](const DeltaWalkOperands& a, bool poison) {
      auto make = [&](at::IntArrayRef sizes) { return poison ? at::full(sizes, NAN, opts) : at::empty(sizes, opts); };
      DeltaChunkStates out{make({c.BH, c.NC, c.K, c.V}), make({c.BH, c.NC, c.C, c.V}), make({c.BH, c.K, c.V})};
      delta_chunk_recurrence_launch(a, out.entering, out.u, out.final);
      return out;
    };
    // Every tile width the launcher may take (0: its own choice), each with V tiles cut at the edge
    // where V is not a multiple of the width.
    for (const int width : {0, 16, 32, 64}) {
      SCOPED_TRACE("columns per block " + std::to_string(width));
      DeltaWalkOperands fwd{in.x.contiguous(), in.y.contiguous(), in.k_state, in.gamma, in.h0, {}, -1.0, 1.0, false,
                            /*tf32=*/true};
      fwd.tf32_tile_v = width;
      const auto out = run(fwd, true), again = run(fwd, false);
      const std::vector<std::pair<const char*, std::pair<at::Tensor, at::Tensor>>> outputs = {
          {"entering", {ref.entering, out.entering}}, {"u", {ref.u, out.u}}, {"final", {ref.final, out.final}}};
      for (const auto& [name, pair] : outputs) {
        ASSERT_TRUE(pair.second.isfinite().all().item<bool>()) << name << " has NaN or inf (an element never written?)";
        EXPECT_LT(rel_rms(pair.first, pair.second.to(at::kCPU, at::kDouble)), 5e-3) << name;
      }
      EXPECT_TRUE(at::equal(out.u, again.u) && at::equal(out.final, again.final)) << "runs differ";
      // The backward's walk: from the last chunk, x = dU, p = K̃, q = Y, r = dH, init = dh_final.
      Rng rng(7);
      const at::Tensor du = rng.randn({c.BH, c.NC, c.C, c.V}).to(opts), dh = rng.randn({c.BH, c.NC, c.K, c.V}).to(opts);
      DeltaWalkOperands bwd{du, in.k_state, in.y.contiguous(), in.gamma, in.h0, dh, 1.0, -1.0, true, /*tf32=*/true};
      bwd.tf32_tile_v = width;
      const auto tc = run(bwd, true);
      bwd.tf32 = false;
      const auto f32 = run(bwd, false);
      EXPECT_LT(rel_rms(f32.entering.to(at::kDouble), tc.entering.to(at::kDouble)), 5e-3) << "reverse: states";
      EXPECT_LT(rel_rms(f32.u.to(at::kDouble), tc.u.to(at::kDouble)), 5e-3) << "reverse: w";
      EXPECT_LT(rel_rms(f32.final.to(at::kDouble), tc.final.to(at::kDouble)), 5e-3) << "reverse: final";
    }
  }
}

// Keys L2-normalized and β in (0, 1), as Gated DeltaNet feeds them.
DeltaRuleArgs random_delta_args(bool gated, int64_t B, int64_t T, int64_t H, int64_t D, double gate_bias,
                                uint64_t seed) {
  Rng rng(seed);
  const at::Tensor k = rng.randn({B, T, H, D});
  DeltaRuleArgs a{rng.randn({B, T, H, D}) * 0.5,
                  k / k.norm(2, -1, true),
                  rng.randn({B, T, H, D}),
                  at::sigmoid(rng.randn({B, T, H})),
                  {},
                  rng.randn({B, H, D, D}),
                  64};
  if (gated) a.log_a = rng.log_gate({B, T, H}, gate_bias);
  return a;
}

TEST(DeltaChunkRecurrenceCuda, DeltaRuleChunkedMatchesFloat64TokenLoop) {
  if (!kernel_available()) GTEST_SKIP() << "no CUDA device the kernel takes";
  for (bool gated : {false, true}) {
    SCOPED_TRACE(gated ? "gated" : "ungated");
    const DeltaRuleArgs a = random_delta_args(gated, 2, 300, 2, 64, 3.0, 21);
    std::vector<at::Tensor> x{a.q, a.k, a.v, a.beta, a.h0};
    if (gated) x.push_back(a.log_a);
    const auto x32 = cast(x, at::kCPU, at::kFloat);
    const auto ref_in = cast(x32, at::kCPU, at::kDouble), gpu_in = cast(x32, at::kCUDA, at::kFloat);
    auto args = [&](const std::vector<at::Tensor>& in) {
      return DeltaRuleArgs{in[0], in[1], in[2], in[3], gated ? in[5] : at::Tensor(), in[4], 64};
    };
    ASSERT_TRUE(delta_rule_chunked_cuda_supports(args(gpu_in)));
    Rng rng(4);
    const at::Tensor w_o = rng.randn({2, 300, 2, 64}), w_h = rng.randn({2, 2, 64, 64});
    auto loss_of = [&](const DeltaRuleOut& out) {
      return (out.o.to(at::kCPU, at::kDouble) * w_o).sum() + (out.h_final.to(at::kCPU, at::kDouble) * w_h).sum();
    };
    const auto ref = delta_rule_ref(args(ref_in));
    const auto out = delta_rule_chunked(args(gpu_in));
    EXPECT_LT(rel_rms(ref.o, out.o), 1e-4) << "o";
    EXPECT_LT(rel_rms(ref.h_final, out.h_final), 1e-4) << "final state";
    const auto torch_form = delta_rule_chunked_torch(args(gpu_in));
    EXPECT_LT(rel_rms(torch_form.o, out.o), 1e-5) << "o against the torch loop on the GPU";
    const auto g_ref =
        grads_of([&](const std::vector<at::Tensor>& in) { return loss_of(delta_rule_ref(args(in))); }, ref_in);
    const auto g =
        grads_of([&](const std::vector<at::Tensor>& in) { return loss_of(delta_rule_chunked(args(in))); }, gpu_in);
    const char* names[] = {"q", "k", "v", "beta", "h0", "log a"};
    for (size_t i = 0; i < g.size(); ++i) {
      ASSERT_TRUE(g[i].isfinite().all().item<bool>()) << "grad of " << names[i];
      EXPECT_LT(rel_rms(g_ref[i], g[i]), 1e-3) << "grad of " << names[i];
    }
  }
}

TEST(DeltaChunkRecurrenceCuda, SixteenThousandTokensWithStrongDecayStayFinite) {
  if (!kernel_available()) GTEST_SKIP() << "no CUDA device the kernel takes";
  DeltaRuleArgs a = random_delta_args(true, 1, 16384, 2, 128, 0.0, 5);
  a.log_a = at::full_like(a.log_a, -20.0);
  std::vector<at::Tensor*> leaves{&a.q, &a.k, &a.v, &a.beta, &a.log_a};
  for (auto* t : leaves) *t = t->to(at::kCUDA, at::kBFloat16).requires_grad_(true);
  a.h0 = at::Tensor();
  ASSERT_TRUE(delta_rule_chunked_cuda_supports(a));
  const auto out = delta_rule_chunked(a);
  ASSERT_TRUE(out.o.isfinite().all().item<bool>());
  ASSERT_TRUE(out.h_final.isfinite().all().item<bool>());
  (out.o.to(at::kFloat).sum() + out.h_final.sum()).backward();
  for (auto* t : leaves) ASSERT_TRUE(t->grad().isfinite().all().item<bool>());
}

}  // namespace
}  // namespace scanlab::ops
