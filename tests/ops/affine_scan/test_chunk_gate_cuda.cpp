// The fused chunked kernels for identity and scalar gates (ops/affine_scan/cuda/chunk_gate.cu) against
// the float64 token loop on the CPU: outputs, final state and the gradients of q, k, v, log a and h0
// (a loss weighting o and the final state), at lengths with a partial last chunk, K / V of 64 and
// 128, mild and strong decay; the state passes in one walk and split over the sequence (forced segment
// counts at small T, the device's choice at T = 16384), and the two against each other. Outputs and
// scratch start as NaN, so an element the kernels never write fails. Skips without a GPU of compute
// capability 8.0 or later.
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
  return affine_scan_chunked_cuda_supports({x, x, x, {}, {}, 64});
}

TEST(ChunkGateCuda, DeclinesWhatItCannotRun) {
  const auto cpu = at::zeros({1, 4, 1, 64}, at::kBFloat16);
  EXPECT_FALSE(affine_scan_chunked_cuda_supports({cpu, cpu, cpu, {}, {}, 64}));
  EXPECT_THROW(affine_scan_chunked_cuda({cpu, cpu, cpu, {}, {}, 64}), scanlab::Error);
  if (!torch::cuda::is_available()) return;
  const auto opts = at::TensorOptions().device(at::kCUDA);
  const auto f32 = at::zeros({1, 4, 1, 64}, opts.dtype(at::kFloat));
  const auto odd = at::zeros({1, 4, 1, 32}, opts.dtype(at::kBFloat16));
  const auto bf = at::zeros({1, 4, 1, 64}, opts.dtype(at::kBFloat16));
  EXPECT_FALSE(affine_scan_chunked_cuda_supports({f32, f32, f32, {}, {}, 64}));  // float32 takes the torch path
  EXPECT_FALSE(affine_scan_chunked_cuda_supports({odd, odd, odd, {}, {}, 64}));  // K = 32
  EXPECT_FALSE(affine_scan_chunked_cuda_supports({bf, bf, bf, at::zeros({1, 4, 1, 64}, opts), {}, 64}));  // diagonal
}

struct Case {
  int64_t B, T, H, K, V;
  bool gated;
  double gate_bias;  // log a = log sigmoid(N(bias, 1)); a negative bias decays strongly
  bool with_h0;
  int segments = 1;  // of the state passes, forced (0: the device's choice)
  int runs = 1;      // how many runs that count becomes (at most one per chunk, none empty)
};

std::string describe(const Case& c) {
  return "B " + std::to_string(c.B) + " T " + std::to_string(c.T) + " H " + std::to_string(c.H) + " K " +
         std::to_string(c.K) + " V " + std::to_string(c.V) + (c.gated ? " scalar gate" : " identity") +
         (c.with_h0 ? " with h0" : "") + ", " + std::to_string(c.segments) + " segments asked";
}

// A case's inputs (bf16-rounded q, k, v, which both sides see; the gate and h0 stay float32, the state
// dtype) on the CPU, and a loss weighting o and the final state.
struct CaseInputs {
  std::vector<at::Tensor> x;
  int gate_at = -1, h0_at = -1;
  at::Tensor w_o, w_h;

  explicit CaseInputs(const Case& c) {
    Rng rng(c.T + c.K);
    auto k = rng.randn({c.B, c.T, c.H, c.K});
    x = {(rng.randn({c.B, c.T, c.H, c.K}) * 0.5).to(at::kBFloat16), (k / k.norm(2, -1, true)).to(at::kBFloat16),
         rng.randn({c.B, c.T, c.H, c.V}).to(at::kBFloat16)};
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
  AffineScanArgs args(const std::vector<at::Tensor>& in) const {
    return {in[0], in[1], in[2], gate_at >= 0 ? in[gate_at] : at::Tensor(), h0_at >= 0 ? in[h0_at] : at::Tensor(), 64};
  }
  at::Tensor loss(const AffineScanOut& out) const {
    return (out.o.to(at::kCPU, at::kDouble) * w_o).sum() + (out.h_final.to(at::kCPU, at::kDouble) * w_h).sum();
  }
  std::string name(size_t i) const {
    const char* names[] = {"q", "k", "v"};
    return static_cast<int>(i) == gate_at ? "log a" : static_cast<int>(i) == h0_at ? "h0" : names[i];
  }
  std::vector<at::Tensor> on_gpu() const {
    std::vector<at::Tensor> out;
    for (const auto& t : x) out.push_back(t.to(at::kCUDA));
    return out;
  }
  // Gradients of the loss through the fused kernels with `segments` (outputs and scratch poisoned).
  std::vector<at::Tensor> fused_grads(int segments) const {
    return grads_of(
        [&](const std::vector<at::Tensor>& in) { return loss(affine_scan_chunked_cuda(args(in), true, segments)); },
        on_gpu());
  }
};

void expect_equal(const char* what, const at::Tensor& a, const at::Tensor& b) {
  EXPECT_TRUE(at::equal(a, b)) << what << ": max |difference| " << (a - b).abs().max().item<float>() << " at "
                               << (a - b).abs().argmax().item<int64_t>();
}

// Outputs, final state and gradients of the fused kernels with c.segments against the float64 token
// loop, with outputs and scratch starting as NaN; the same call again without poison gives the same
// bits, and the routed entry point equals the device's own choice of segments.
void check_against_token_loop(const Case& c) {
  SCOPED_TRACE(describe(c));
  const CaseInputs in(c);
  std::vector<at::Tensor> ref_in;
  for (const auto& t : in.x) ref_in.push_back(t.to(at::kDouble));
  const auto gpu_in = in.on_gpu();
  ASSERT_TRUE(affine_scan_chunked_cuda_supports(in.args(gpu_in)));
  EXPECT_EQ(affine_scan_chunked_cuda_segments(in.args(gpu_in), c.segments), c.runs);
  const auto ref = affine_scan_ref(in.args(ref_in));
  const auto out = affine_scan_chunked_cuda(in.args(gpu_in), /*poison_outputs=*/true, c.segments);
  EXPECT_EQ(out.o.scalar_type(), at::kBFloat16);
  EXPECT_EQ(out.h_final.scalar_type(), at::kFloat);
  ASSERT_TRUE(out.o.isfinite().all().item<bool>());
  ASSERT_TRUE(out.h_final.isfinite().all().item<bool>());
  EXPECT_LT(rel_rms(ref.o, out.o.to(at::kCPU)), 1.5e-2) << "o";
  EXPECT_LT(rel_rms(ref.h_final, out.h_final.to(at::kCPU)), 1e-2) << "final state";
  const auto again = affine_scan_chunked_cuda(in.args(gpu_in), false, c.segments);
  expect_equal("o, poisoned vs not", again.o, out.o);
  expect_equal("final state, poisoned vs not", again.h_final, out.h_final);
  const auto routed = affine_scan_chunked(in.args(gpu_in)), own = affine_scan_chunked_cuda(in.args(gpu_in));
  expect_equal("o, routed vs fused", routed.o, own.o);
  expect_equal("final state, routed vs fused", routed.h_final, own.h_final);
  const auto g_ref =
      grads_of([&](const std::vector<at::Tensor>& x) { return in.loss(affine_scan_ref(in.args(x))); }, ref_in);
  const auto g = in.fused_grads(c.segments);
  for (size_t i = 0; i < g.size(); ++i) {
    ASSERT_TRUE(g[i].isfinite().all().item<bool>()) << "grad of " << in.name(i);
    EXPECT_LT(rel_rms(g_ref[i], g[i].to(at::kCPU)), 2e-2) << "grad of " << in.name(i);
  }
}

// The split and the unsplit state passes agree within rounding: their float32 states differ only in
// the order of the sums (a run's entering state composed, not chained), so a bf16 saved state differs
// by at most one unit in the last place (2^-8) where the two land on either side of a rounding
// boundary, and the float32 final states by the reordered sums (up to ~1000 accumulations a run of
// 256 chunks, each rounded at 2^-24 relative to its partial sum). Bounds: relative RMS 4e-3 (bf16
// o and the gradients through bf16 states), 1e-3 (the float32 final state and h0's gradient); a
// wrong entering state is off by O(1).
void check_split_matches_unsplit(const Case& c) {
  SCOPED_TRACE(describe(c) + ", split vs unsplit");
  const CaseInputs in(c);
  const auto gpu_in = in.on_gpu();
  ASSERT_GT(affine_scan_chunked_cuda_segments(in.args(gpu_in), c.segments), 1) << "the case must split";
  const auto one = affine_scan_chunked_cuda(in.args(gpu_in), true, 1);
  const auto split = affine_scan_chunked_cuda(in.args(gpu_in), true, c.segments);
  ASSERT_TRUE(split.o.isfinite().all().item<bool>());
  ASSERT_TRUE(split.h_final.isfinite().all().item<bool>());
  EXPECT_LT(rel_rms(one.o, split.o), 4e-3) << "o";
  EXPECT_LT(rel_rms(one.h_final, split.h_final), 1e-3) << "final state";
  const auto g_one = in.fused_grads(1), g_split = in.fused_grads(c.segments);
  for (size_t i = 0; i < g_one.size(); ++i) {
    ASSERT_TRUE(g_split[i].isfinite().all().item<bool>()) << "grad of " << in.name(i);
    // h0's gradient is the float32 state-gradient pass itself; the others go through bf16 states.
    EXPECT_LT(rel_rms(g_one[i], g_split[i]), static_cast<int>(i) == in.h0_at ? 1e-3 : 4e-3) << "grad of " << in.name(i);
  }
}

TEST(ChunkGateCuda, OutputsAndGradientsMatchFloat64TokenLoop) {
  if (!fused_available()) GTEST_SKIP() << "no CUDA device of compute capability 8.0 or later";
  // The unsplit state passes (one walk over all chunks); the split ones are the next test's.
  const Case cases[] = {{2, 63, 3, 64, 64, false, 0, false},     {2, 100, 2, 64, 64, true, 2.0, true},
                        {1, 1000, 2, 128, 128, true, 3.0, true}, {1, 257, 2, 128, 64, true, -3.0, false},
                        {3, 130, 1, 64, 128, false, 0, true},    {1, 64, 4, 128, 128, true, 1.0, false}};
  for (const auto& c : cases) check_against_token_loop(c);
}

TEST(ChunkGateCuda, SplitStatePassMatchesFloat64TokenLoop) {
  if (!fused_available()) GTEST_SKIP() << "no CUDA device of compute capability 8.0 or later";
  // Forced segment counts: runs of one chunk, a last run shorter than the others (and ending in a
  // partial chunk), a count that shrinks to fit (NC 16 in 7 runs walks 3 x 5 + 1), and the device's
  // own choice at a length where it splits (2 state tiles, NC 16: 4 runs on any GPU of 2+ SMs).
  const Case cases[] = {
      {2, 63, 3, 64, 64, false, 0, false, 4, 1},       // one chunk: nothing to split
      {2, 100, 2, 64, 64, true, 2.0, true, 2, 2},      // 1 + 1 chunks, the second partial
      {1, 257, 2, 128, 64, true, -3.0, false, 5, 5},   // 5 runs of one chunk, strong decay
      {1, 257, 2, 64, 128, true, 1.0, true, 3, 3},     // 2 + 2 + 1 chunks
      {1, 1000, 2, 128, 128, true, 3.0, true, 3, 3},   // 6 + 6 + 4 chunks
      {1, 1000, 1, 64, 64, false, 0, true, 16, 16},    // 16 runs of one chunk, identity gate
      {2, 1000, 1, 128, 128, true, -3.0, true, 7, 6},  // 3 x 5 + 1 chunks
      {1, 1000, 2, 64, 64, true, 1.0, false, 0, 4},    // the device's choice
  };
  for (const auto& c : cases) check_against_token_loop(c);
  for (const auto& c : cases)
    if (c.runs > 1) check_split_matches_unsplit(c);
}

// One sequence of 16384 tokens with few heads: the device's own choice splits the state passes
// (2 heads x 4 tiles of 64 x 64: 64 runs of 4 chunks on a GPU of 132 SMs).
TEST(ChunkGateCuda, SixteenThousandTokensWithStrongDecayStayFinite) {
  if (!fused_available()) GTEST_SKIP() << "no CUDA device of compute capability 8.0 or later";
  Rng rng(5);
  const auto opts = at::TensorOptions().device(at::kCUDA);
  const int64_t B = 1, T = 16384, H = 2, K = 128, V = 128;
  std::vector<at::Tensor> x{rng.randn({B, T, H, K}).to(at::kCUDA, at::kBFloat16),
                            rng.randn({B, T, H, K}).to(at::kCUDA, at::kBFloat16),
                            rng.randn({B, T, H, V}).to(at::kCUDA, at::kBFloat16), at::full({B, T, H}, -20.0, opts)};
  for (auto& t : x) t.requires_grad_(true);
  const AffineScanArgs args{x[0], x[1], x[2], x[3], {}, 64};
  EXPECT_GT(affine_scan_chunked_cuda_segments(args), 1) << "expected the split state passes";
  const auto out = affine_scan_chunked_cuda(args, true);
  ASSERT_TRUE(out.o.isfinite().all().item<bool>());
  ASSERT_TRUE(out.h_final.isfinite().all().item<bool>());
  (out.o.to(at::kFloat).sum() + out.h_final.sum()).backward();
  for (const auto& t : x) ASSERT_TRUE(t.grad().isfinite().all().item<bool>());
}

TEST(ChunkGateCuda, SixteenThousandTokensSplitMatchesUnsplit) {
  if (!fused_available()) GTEST_SKIP() << "no CUDA device of compute capability 8.0 or later";
  // The device's choice (segments 0) against one walk, mild decay and the identity gate (a state
  // summing all 16384 updates).
  const Case cases[] = {{1, 16384, 2, 64, 64, true, 3.0, true, 0},
                        {1, 16384, 2, 64, 64, false, 0, false, 0},
                        {1, 16384, 1, 128, 128, true, 3.0, true, 0}};
  for (const auto& c : cases) check_split_matches_unsplit(c);
}

}  // namespace
}  // namespace scanlab::ops
