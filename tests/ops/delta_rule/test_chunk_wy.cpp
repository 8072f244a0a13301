// The fused chunked delta rule's autograd Function with its stages as torch ops
// (delta_rule_chunked_wy_torch, ops/delta_rule/chunk_wy.cpp) in float64 on the CPU: outputs and final
// state against the token loop, and its hand-written backward (the formulas the CUDA kernels
// implement) against autograd of the token loop, for q, k, v, β, log a and h0; lengths with a
// partial last chunk and whole ones, no gate, mild and strong decay. The kernels themselves are
// tests/ops/delta_rule/test_chunk_wy_cuda.cpp's.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ops/delta_rule/delta_rule.h"
#include "support/expect_close.h"
#include "support/op_test_util.h"

namespace scanlab::ops {
namespace {

using scanlab::testing::expect_close;
using scanlab::testing::expect_same_gradients;
using scanlab::testing::Rng;

struct Case {
  int64_t B, T, H, K, V;
  bool gated;
  double gate_bias;
  bool with_h0;
};

TEST(DeltaWyTorch, OutputsAndGradientsMatchTokenLoopInFloat64) {
  const Case cases[] = {{2, 63, 2, 8, 5, false, 0, true},
                        {1, 64, 2, 4, 6, true, 2.0, false},
                        {2, 100, 1, 8, 8, true, -3.0, true},
                        {1, 130, 2, 6, 4, true, 1.0, true},
                        {1, 200, 1, 4, 4, false, 0, false}};
  for (const auto& c : cases) {
    SCOPED_TRACE("B " + std::to_string(c.B) + " T " + std::to_string(c.T) + " K " + std::to_string(c.K) + " V " +
                 std::to_string(c.V) + (c.gated ? " gate bias " + std::to_string(c.gate_bias) : " no gate") +
                 (c.with_h0 ? " with h0" : ""));
    Rng rng(c.T + c.K);
    const auto k = rng.randn({c.B, c.T, c.H, c.K});
    std::vector<at::Tensor> x{rng.randn({c.B, c.T, c.H, c.K}) * 0.5, k / k.norm(2, -1, true),
                              rng.randn({c.B, c.T, c.H, c.V}), at::sigmoid(rng.randn({c.B, c.T, c.H}))};
    const int gate_at = c.gated ? static_cast<int>(x.size()) : -1;
    if (c.gated) x.push_back(rng.log_gate({c.B, c.T, c.H}, c.gate_bias));
    const int h0_at = c.with_h0 ? static_cast<int>(x.size()) : -1;
    if (c.with_h0) x.push_back(rng.randn({c.B, c.H, c.K, c.V}));
    auto args = [&](const std::vector<at::Tensor>& in) {
      return DeltaRuleArgs{
          in[0], in[1], in[2], in[3], gate_at >= 0 ? in[gate_at] : at::Tensor(), h0_at >= 0 ? in[h0_at] : at::Tensor(),
          64};
    };
    const auto ref = delta_rule_ref(args(x)), out = delta_rule_chunked_wy_torch(args(x));
    expect_close("o", ref.o, out.o, 1e-10);
    expect_close("h_final", ref.h_final, out.h_final, 1e-10);
    const auto w_o = rng.randn({c.B, c.T, c.H, c.V}), w_h = rng.randn({c.B, c.H, c.K, c.V});
    auto loss = [&](DeltaRuleOut (*path)(const DeltaRuleArgs&)) {
      return [&, path](const std::vector<at::Tensor>& in) {
        const auto o = path(args(in));
        return (o.o * w_o).sum() + (o.h_final * w_h).sum();
      };
    };
    expect_same_gradients(loss(&delta_rule_ref), loss(&delta_rule_chunked_wy_torch), x, 1e-9);
  }
}

// Only o in the loss (no gradient reaches the final state) and only the final state (q is then a
// constant: the token loop's final state does not depend on it): the Function's backward takes an
// undefined gradient for the other output.
TEST(DeltaWyTorch, OneOutputInTheLoss) {
  Rng rng(9);
  const auto k = rng.randn({1, 70, 1, 4});
  const at::Tensor q = rng.randn({1, 70, 1, 4});
  const std::vector<at::Tensor> x{k / k.norm(2, -1, true), rng.randn({1, 70, 1, 3}), at::sigmoid(rng.randn({1, 70, 1})),
                                  rng.log_gate({1, 70, 1}, 2.0), q};
  for (bool use_o : {true, false}) {
    SCOPED_TRACE(use_o ? "o alone" : "final state alone");
    const std::vector<at::Tensor> inputs(x.begin(), x.end() - (use_o ? 0 : 1));
    auto loss = [&](DeltaRuleOut (*path)(const DeltaRuleArgs&)) {
      return [&, path](const std::vector<at::Tensor>& in) {
        const auto o = path({use_o ? in[4] : q, in[0], in[1], in[2], in[3], {}, 64});
        return use_o ? o.o.sum() : o.h_final.sum();
      };
    };
    expect_same_gradients(loss(&delta_rule_ref), loss(&delta_rule_chunked_wy_torch), inputs, 1e-9);
  }
}

}  // namespace
}  // namespace scanlab::ops
