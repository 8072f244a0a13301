// The fused chunked (gated) delta rule (ops/delta_rule/chunk_wy_cuda.cpp, cuda/delta_wy_*.cu) against the
// float64 token loop on the CPU: outputs, final state and the gradients of q, k, v, β, log a and h0
// (a loss weighting o and the final state), at lengths with a partial last chunk (63, 100, 130, 1000)
// and a whole one (64), K / V of 64 and 128, no gate, mild and strong decay. Outputs and scratch
// start as NaN, so an element the kernels never write fails; runs repeat bit for bit; the fused path
// against the recurrence-kernel path (set_fused_chunked_kernels(false)); T = 16384 at log a = -20
// stays finite. Skips without a GPU the kernels take (compute capability 8.0+, the shared memory of
// the K = 128 recurrence walk: 200 KB).
//
// Bounds (relative RMS against float64 on the same bf16-rounded q, k, v): o 1.5e-2 and the final
// state 1e-2, as the scalar-gate kernels (ChunkGateCuda); gradients of q, k, v, h0 2e-2; of β and
// log a 3e-2 (each is a sum of several products whose parts cancel: log a's is q·dq - k·dk plus the
// UT transform's terms, computed from bf16 operands with T = (I + A)^{-1} rounded to bf16, as fla
// does). These were set before any GPU run: the measured errors belong in the commit that tightens them.
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <string>
#include <vector>

#include "core/check.h"
#include "ops/affine_scan/affine_scan.h"
#include "ops/delta_rule/delta_rule.h"
#include "support/op_test_util.h"

namespace scanlab::ops {
namespace {

using scanlab::testing::grads_of;
using scanlab::testing::rel_rms;
using scanlab::testing::Rng;

bool fused_available() {
  if (!torch::cuda::is_available()) return false;
  const auto opts = at::TensorOptions().device(at::kCUDA);
  const auto x = at::zeros({1, 1, 1, 128}, opts.dtype(at::kBFloat16));
  return delta_rule_chunked_wy_cuda_supports({x, x, x, at::zeros({1, 1, 1}, opts), {}, {}, 64});
}

TEST(DeltaWyCuda, DeclinesWhatItCannotRun) {
  const auto cpu = at::zeros({1, 4, 1, 64}, at::kBFloat16);
  const auto cpu_beta = at::zeros({1, 4, 1});
  EXPECT_FALSE(delta_rule_chunked_wy_cuda_supports({cpu, cpu, cpu, cpu_beta, {}, {}, 64}));
  EXPECT_THROW(delta_rule_chunked_wy_cuda({cpu, cpu, cpu, cpu_beta, {}, {}, 64}), scanlab::Error);
  if (!torch::cuda::is_available()) return;
  const auto opts = at::TensorOptions().device(at::kCUDA);
  const auto beta = at::zeros({1, 4, 1}, opts);
  const auto f32 = at::zeros({1, 4, 1, 64}, opts.dtype(at::kFloat));
  const auto odd = at::zeros({1, 4, 1, 32}, opts.dtype(at::kBFloat16));
  EXPECT_FALSE(delta_rule_chunked_wy_cuda_supports({f32, f32, f32, beta, {}, {}, 64}));  // float32: recurrence path
  EXPECT_FALSE(delta_rule_chunked_wy_cuda_supports({odd, odd, odd, beta, {}, {}, 64}));  // K = 32
}

struct Case {
  int64_t B, T, H, K, V;
  bool gated;
  double gate_bias;  // log a = log sigmoid(N(bias, 1)); a negative bias decays strongly
  bool with_h0;
};

std::string describe(const Case& c) {
  return "B " + std::to_string(c.B) + " T " + std::to_string(c.T) + " H " + std::to_string(c.H) + " K " +
         std::to_string(c.K) + " V " + std::to_string(c.V) +
         (c.gated ? " gate bias " + std::to_string(c.gate_bias) : " no gate") + (c.with_h0 ? " with h0" : "");
}

// A case's inputs on the CPU (bf16-rounded q, k, v, which both sides see; β, the gate and h0 float32),
// with keys L2-normalized and β in (0, 1) as Gated DeltaNet feeds them, and a loss weighting o and
// the final state.
struct CaseInputs {
  std::vector<at::Tensor> x;  // q, k, v, beta, [log a], [h0]
  int gate_at = -1, h0_at = -1;
  at::Tensor w_o, w_h;

  explicit CaseInputs(const Case& c) {
    Rng rng(c.T + 3 * c.K + c.V);
    const auto k = rng.randn({c.B, c.T, c.H, c.K});
    x = {(rng.randn({c.B, c.T, c.H, c.K}) * 0.5).to(at::kBFloat16), (k / k.norm(2, -1, true)).to(at::kBFloat16),
         rng.randn({c.B, c.T, c.H, c.V}).to(at::kBFloat16), at::sigmoid(rng.randn({c.B, c.T, c.H})).to(at::kFloat)};
    if (c.gated) {
      gate_at = static_cast<int>(x.size());
      x.push_back(rng.log_gate({c.B, c.T, c.H}, c.gate_bias, at::kFloat));
    }
    if (c.with_h0) {
      h0_at = static_cast<int>(x.size());
      x.push_back(rng.randn({c.B, c.H, c.K, c.V}, at::kFloat));
    }
    w_o = rng.randn({c.B, c.T, c.H, c.V});
    w_h = rng.randn({c.B, c.H, c.K, c.V});
  }
  DeltaRuleArgs args(const std::vector<at::Tensor>& in) const {
    return {
        in[0], in[1], in[2], in[3], gate_at >= 0 ? in[gate_at] : at::Tensor(), h0_at >= 0 ? in[h0_at] : at::Tensor(),
        64};
  }
  at::Tensor loss(const DeltaRuleOut& out) const {
    return (out.o.to(at::kCPU, at::kDouble) * w_o).sum() + (out.h_final.to(at::kCPU, at::kDouble) * w_h).sum();
  }
  std::string name(size_t i) const {
    const char* names[] = {"q", "k", "v", "beta"};
    return static_cast<int>(i) == gate_at ? "log a" : static_cast<int>(i) == h0_at ? "h0" : names[i];
  }
  double grad_bound(size_t i) const { return i == 3 || static_cast<int>(i) == gate_at ? 3e-2 : 2e-2; }
  std::vector<at::Tensor> on(at::Device device, bool float64 = false) const {
    std::vector<at::Tensor> out;
    for (const auto& t : x) out.push_back(float64 ? t.to(device, at::kDouble) : t.to(device));
    return out;
  }
  std::vector<at::Tensor> fused_grads(bool poison) const {
    return grads_of(
        [&](const std::vector<at::Tensor>& in) { return loss(delta_rule_chunked_wy_cuda(args(in), poison)); },
        on(at::kCUDA));
  }
};

void expect_equal(const std::string& what, const at::Tensor& a, const at::Tensor& b) {
  EXPECT_TRUE(at::equal(a, b)) << what << ": max |difference| " << (a - b).abs().max().item<float>();
}

void check_against_token_loop(const Case& c) {
  SCOPED_TRACE(describe(c));
  const CaseInputs in(c);
  const auto ref_in = in.on(at::kCPU, /*float64=*/true), gpu_in = in.on(at::kCUDA);
  ASSERT_TRUE(delta_rule_chunked_wy_cuda_supports(in.args(gpu_in)));
  const auto ref = delta_rule_ref(in.args(ref_in));
  const auto out = delta_rule_chunked_wy_cuda(in.args(gpu_in), /*poison_outputs=*/true);
  EXPECT_EQ(out.o.scalar_type(), at::kBFloat16);
  EXPECT_EQ(out.h_final.scalar_type(), at::kFloat);
  ASSERT_TRUE(out.o.isfinite().all().item<bool>()) << "o has NaN or inf (an element never written?)";
  ASSERT_TRUE(out.h_final.isfinite().all().item<bool>());
  EXPECT_LT(rel_rms(ref.o, out.o.to(at::kCPU)), 1.5e-2) << "o";
  EXPECT_LT(rel_rms(ref.h_final, out.h_final.to(at::kCPU)), 1e-2) << "final state";
  // Bit for bit again without poison, and through the routed entry point.
  const auto again = delta_rule_chunked_wy_cuda(in.args(gpu_in));
  expect_equal("o, poisoned vs not", again.o, out.o);
  expect_equal("final state, poisoned vs not", again.h_final, out.h_final);
  const auto routed = delta_rule_chunked(in.args(gpu_in));
  expect_equal("o, routed vs fused", routed.o, out.o);
  const auto g_ref =
      grads_of([&](const std::vector<at::Tensor>& x) { return in.loss(delta_rule_ref(in.args(x))); }, ref_in);
  const auto g = in.fused_grads(true), g_again = in.fused_grads(false);
  ASSERT_EQ(g.size(), g_ref.size());
  for (size_t i = 0; i < g.size(); ++i) {
    ASSERT_TRUE(g[i].isfinite().all().item<bool>()) << "grad of " << in.name(i);
    EXPECT_LT(rel_rms(g_ref[i], g[i].to(at::kCPU)), in.grad_bound(i)) << "grad of " << in.name(i);
    expect_equal("grad of " + in.name(i) + ", poisoned vs not", g_again[i], g[i]);
  }
}

TEST(DeltaWyCuda, OutputsAndGradientsMatchFloat64TokenLoop) {
  if (!fused_available()) GTEST_SKIP() << "no CUDA device the fused delta-rule kernels take";
  const Case cases[] = {{2, 63, 3, 64, 64, false, 0, false},
                        {2, 64, 2, 64, 64, true, 3.0, true},
                        {2, 100, 2, 64, 64, true, 2.0, true},
                        {1, 130, 2, 128, 128, true, -3.0, false},
                        {1, 1000, 2, 128, 128, true, 3.0, true},
                        {1, 1000, 2, 64, 64, false, 0, true},
                        {1, 130, 2, 128, 64, true, 1.0, true},
                        {3, 100, 1, 64, 128, true, -3.0, true},
                        {1, 64, 4, 128, 128, false, 0, false},
                        // B·H 80 at V 128: 160 blocks of 64 columns, enough for the launcher to take
                        // the TF32 walk on any GPU of up to 320 SMs (the cases above are too small to)
                        {4, 100, 20, 128, 128, true, 2.0, true}};
  for (const auto& c : cases) check_against_token_loop(c);
}

// The cases above run the default walks (TF32 tensor cores where that is the faster walk, which the
// last case reaches; the forced widths are checked in test_chunk_recurrence_cuda.cpp);
// these run the fused path with its walks in float32 FMA throughout (set_delta_walk_tf32(false)), held
// to the same bounds.
TEST(DeltaWyCuda, Float32WalkMatchesFloat64TokenLoop) {
  if (!fused_available()) GTEST_SKIP() << "no CUDA device the fused delta-rule kernels take";
  struct Restore {
    bool was = delta_walk_tf32();
    ~Restore() { set_delta_walk_tf32(was); }
  } restore;
  set_delta_walk_tf32(false);
  const Case cases[] = {{2, 63, 3, 64, 64, false, 0, false},
                        {2, 100, 2, 64, 64, true, 2.0, true},
                        {1, 1000, 2, 128, 128, true, 3.0, true},
                        {3, 100, 1, 64, 128, true, -3.0, true},
                        {1, 64, 4, 128, 128, false, 0, false},
                        {4, 100, 20, 128, 128, true, 2.0, true}};  // the default would take TF32 here
  for (const auto& c : cases) check_against_token_loop(c);
}

// The fused path against the previous one (batched torch ops around the recurrence kernel, taken with
// the fused kernels switched off) on the same bf16 inputs: both approximate the same function from
// bf16 operands, so they agree within the float64 bounds.
TEST(DeltaWyCuda, MatchesRecurrenceKernelPath) {
  if (!fused_available()) GTEST_SKIP() << "no CUDA device the fused delta-rule kernels take";
  const Case cases[] = {{2, 300, 2, 64, 64, true, 3.0, true}, {1, 1000, 2, 128, 128, false, 0, true}};
  for (const auto& c : cases) {
    SCOPED_TRACE(describe(c));
    const CaseInputs in(c);
    const auto gpu_in = in.on(at::kCUDA);
    const auto fused = delta_rule_chunked(in.args(gpu_in));
    DeltaRuleOut recurrence;
    std::vector<at::Tensor> g_rec;
    {
      struct Restore {
        ~Restore() { set_fused_chunked_kernels(true); }
      } restore;
      set_fused_chunked_kernels(false);
      ASSERT_FALSE(delta_rule_chunked_wy_cuda_supports(in.args(gpu_in)) && fused_chunked_kernels());
      recurrence = delta_rule_chunked(in.args(gpu_in));
      g_rec =
          grads_of([&](const std::vector<at::Tensor>& x) { return in.loss(delta_rule_chunked(in.args(x))); }, gpu_in);
    }
    EXPECT_LT(rel_rms(recurrence.o.to(at::kDouble), fused.o.to(at::kDouble)), 1.5e-2) << "o";
    EXPECT_LT(rel_rms(recurrence.h_final.to(at::kDouble), fused.h_final.to(at::kDouble)), 1e-2) << "final state";
    const auto g = in.fused_grads(false);
    for (size_t i = 0; i < g.size(); ++i)
      EXPECT_LT(rel_rms(g_rec[i].to(at::kDouble), g[i].to(at::kDouble)), in.grad_bound(i)) << "grad of " << in.name(i);
  }
}

TEST(DeltaWyCuda, SixteenThousandTokensWithStrongDecayStayFinite) {
  if (!fused_available()) GTEST_SKIP() << "no CUDA device the fused delta-rule kernels take";
  for (bool gated : {true, false}) {
    SCOPED_TRACE(gated ? "log a = -20" : "no gate");
    Rng rng(5);
    const int64_t B = 1, T = 16384, H = 2, K = 128, V = 128;
    const auto k = rng.randn({B, T, H, K});
    std::vector<at::Tensor> x{(rng.randn({B, T, H, K}) * 0.5).to(at::kCUDA, at::kBFloat16),
                              (k / k.norm(2, -1, true)).to(at::kCUDA, at::kBFloat16),
                              rng.randn({B, T, H, V}).to(at::kCUDA, at::kBFloat16),
                              at::sigmoid(rng.randn({B, T, H})).to(at::kCUDA, at::kFloat)};
    if (gated) x.push_back(at::full({B, T, H}, -20.0, at::TensorOptions().device(at::kCUDA)));
    for (auto& t : x) t.requires_grad_(true);
    const DeltaRuleArgs args{x[0], x[1], x[2], x[3], gated ? x[4] : at::Tensor(), {}, 64};
    const auto out = delta_rule_chunked_wy_cuda(args, true);
    ASSERT_TRUE(out.o.isfinite().all().item<bool>());
    ASSERT_TRUE(out.h_final.isfinite().all().item<bool>());
    (out.o.to(at::kFloat).sum() + out.h_final.sum()).backward();
    for (const auto& t : x) ASSERT_TRUE(t.grad().isfinite().all().item<bool>());
  }
}

}  // namespace
}  // namespace scanlab::ops
