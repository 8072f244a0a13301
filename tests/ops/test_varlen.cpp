// Variable-length packed batches (ops/varlen.h) for every chunked op: outputs, final states and
// gradients of one packed call against running each sequence alone through the float64 token loop
// from its own initial state (odd lengths, a zero-length sequence, several whole chunks of padding);
// the refusals of bad cu_seqlens; and, on a GPU, bf16 packed calls against the float64 reference.
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <functional>
#include <string>
#include <vector>

#include "core/check.h"
#include "ops/varlen.h"
#include "support/expect_close.h"
#include "support/op_test_util.h"

namespace scanlab::ops {
namespace {

using scanlab::testing::expect_close;
using scanlab::testing::grads_of;
using scanlab::testing::rel_rms;
using scanlab::testing::Rng;

using Tensors = std::vector<at::Tensor>;

// An op as the tests see it: per-token inputs packed [1, total, H, ·] (or [B, T, H, ·] for one
// sequence alone), initial-state tensors [S, ...], and two runs returning {o, final state tensors...}:
// the packed call, and one sequence through the token loop (inputs [1, L, ...], states [1, ...]).
struct VarlenCase {
  std::string name;
  std::function<Tensors(int64_t total, int64_t H, int64_t K, int64_t V, Rng&)> inputs;
  std::function<Tensors(int64_t S, int64_t H, int64_t K, int64_t V, Rng&)> states;
  std::function<Tensors(const Tensors& x, const Tensors& h0, const at::Tensor& cu, int64_t chunk)> varlen;
  std::function<Tensors(const Tensors& x, const Tensors& h0)> alone;
};

Tensors qkv(int64_t total, int64_t H, int64_t K, int64_t V, Rng& rng) {
  auto k = rng.randn({1, total, H, K});
  return {rng.randn({1, total, H, K}) * 0.5, k / k.norm(2, -1, true), rng.randn({1, total, H, V})};
}

Tensors one_state(int64_t S, int64_t H, int64_t K, int64_t V, Rng& rng) { return {rng.randn({S, H, K, V}) * 0.5}; }

VarlenCase affine_case(const std::string& name, GateKind gate) {
  auto args = [](const Tensors& x, const Tensors& h0, int64_t chunk) {
    return AffineScanArgs{x[0], x[1], x[2], x.size() > 3 ? x[3] : at::Tensor(), h0[0], chunk};
  };
  return {name,
          [gate](int64_t total, int64_t H, int64_t K, int64_t V, Rng& rng) {
            auto x = qkv(total, H, K, V, rng);
            if (gate == GateKind::Scalar) x.push_back(rng.log_gate({1, total, H}, 2.0));
            if (gate == GateKind::Diagonal) x.push_back(rng.log_gate({1, total, H, K}, 2.0));
            return x;
          },
          one_state,
          [args](const Tensors& x, const Tensors& h0, const at::Tensor& cu, int64_t chunk) {
            auto out = affine_scan_varlen(args(x, h0, chunk), cu);
            return Tensors{out.o, out.h_final};
          },
          [args](const Tensors& x, const Tensors& h0) {
            auto out = affine_scan_ref(args(x, h0, 1));
            return Tensors{out.o, out.h_final};
          }};
}

VarlenCase delta_case(const std::string& name, bool gated) {
  auto args = [](const Tensors& x, const Tensors& h0, int64_t chunk) {
    return DeltaRuleArgs{x[0], x[1], x[2], x[3], x.size() > 4 ? x[4] : at::Tensor(), h0[0], chunk};
  };
  return {name,
          [gated](int64_t total, int64_t H, int64_t K, int64_t V, Rng& rng) {
            auto x = qkv(total, H, K, V, rng);
            x.push_back(at::sigmoid(rng.randn({1, total, H})));
            if (gated) x.push_back(rng.log_gate({1, total, H}, 2.0));
            return x;
          },
          one_state,
          [args](const Tensors& x, const Tensors& h0, const at::Tensor& cu, int64_t chunk) {
            auto out = delta_rule_varlen(args(x, h0, chunk), cu);
            return Tensors{out.o, out.h_final};
          },
          [args](const Tensors& x, const Tensors& h0) {
            auto out = delta_rule_ref(args(x, h0, 1));
            return Tensors{out.o, out.h_final};
          }};
}

VarlenCase mlstm_case() {
  auto args = [](const Tensors& x, const Tensors& h0, int64_t chunk) {
    return MlstmArgs{x[0], x[1], x[2], x[3], x[4], {h0[0], h0[1], h0[2]}, chunk};
  };
  return {"mlstm",
          [](int64_t total, int64_t H, int64_t K, int64_t V, Rng& rng) {
            auto x = qkv(total, H, K, V, rng);
            x.push_back(rng.log_gate({1, total, H}, 2.0));
            x.push_back(rng.randn({1, total, H}));
            return x;
          },
          [](int64_t S, int64_t H, int64_t K, int64_t V, Rng& rng) {
            return Tensors{rng.randn({S, H, K, V}) * 0.5, rng.randn({S, H, K}) * 0.5, rng.randn({S, H})};
          },
          [args](const Tensors& x, const Tensors& h0, const at::Tensor& cu, int64_t chunk) {
            auto out = mlstm_varlen(args(x, h0, chunk), cu);
            return Tensors{out.o, out.state.C, out.state.n, out.state.m};
          },
          [args](const Tensors& x, const Tensors& h0) {
            auto out = mlstm_ref(args(x, h0, 1));
            return Tensors{out.o, out.state.C, out.state.n, out.state.m};
          }};
}

std::vector<VarlenCase> cases() {
  return {affine_case("linear attention", GateKind::Identity),
          affine_case("scalar gate", GateKind::Scalar),
          affine_case("vector gate", GateKind::Diagonal),
          mlstm_case(),
          delta_case("delta rule", false),
          delta_case("gated delta rule", true)};
}

at::Tensor offsets(const std::vector<int64_t>& lengths) {
  std::vector<int64_t> cu{0};
  for (int64_t L : lengths) cu.push_back(cu.back() + L);
  return at::tensor(cu, at::kLong);
}

// Each sequence alone through the token loop, concatenated as the packed call returns them: o along
// T, the final states along S (a zero-length sequence's final state is its initial state).
Tensors run_alone(const VarlenCase& op, const Tensors& x, const Tensors& h0, const std::vector<int64_t>& lengths) {
  std::vector<Tensors> parts;  // parts[i]: output i of every sequence
  int64_t start = 0;
  for (size_t s = 0; s < lengths.size(); ++s) {
    Tensors h;
    for (const auto& t : h0) h.push_back(t.narrow(0, static_cast<int64_t>(s), 1));
    Tensors out;
    if (lengths[s] == 0) {
      out.push_back(at::Tensor());
      for (const auto& t : h) out.push_back(t);
    } else {
      Tensors xs;
      for (const auto& t : x) xs.push_back(t.narrow(1, start, lengths[s]));
      out = op.alone(xs, h);
    }
    parts.resize(out.size());
    for (size_t i = 0; i < out.size(); ++i)
      if (out[i].defined()) parts[i].push_back(out[i]);
    start += lengths[s];
  }
  Tensors joined{at::cat(parts[0], 1)};
  for (size_t i = 1; i < parts.size(); ++i) joined.push_back(at::cat(parts[i], 0));
  return joined;
}

// Odd lengths, a zero-length sequence and a one-token one; with chunk 16 the shortest sequences run
// through several chunks that are padding only.
const std::vector<int64_t> kLengths{1, 63, 0, 100, 37};

TEST(Varlen, OutputsStatesAndGradientsEqualEachSequenceAloneInFloat64) {
  // V >= 8: the diagonal gate takes its chunked form (narrower values take the token loop).
  const int64_t H = 2, K = 8, V = 9, S = static_cast<int64_t>(kLengths.size());
  const at::Tensor cu = offsets(kLengths);
  const int64_t total = cu[-1].item<int64_t>();
  for (const auto& op : cases())
    for (int64_t chunk : {16, 64}) {
      SCOPED_TRACE(op.name + " chunk " + std::to_string(chunk));
      Rng rng(5 + chunk);
      const Tensors x = op.inputs(total, H, K, V, rng), h0 = op.states(S, H, K, V, rng);
      const Tensors ref = run_alone(op, x, h0, kLengths), out = op.varlen(x, h0, cu, chunk);
      ASSERT_EQ(ref.size(), out.size());
      expect_close("o", ref[0], out[0], 1e-10);
      for (size_t i = 1; i < ref.size(); ++i) expect_close("final state " + std::to_string(i), ref[i], out[i], 1e-10);
      // The zero-length sequence (index 2) hands its initial state back unchanged.
      for (size_t i = 1; i < out.size(); ++i) EXPECT_TRUE(out[i][2].equal(h0[i - 1][2])) << "state " << i;

      // Gradients with respect to every packed input and every initial state.
      Tensors weights;
      for (const auto& t : ref) weights.push_back(rng.randn(t.sizes()));
      const size_t nx = x.size();
      auto loss = [&](bool packed) {
        return [&, packed](const Tensors& in) {
          const Tensors xi(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(nx));
          const Tensors hi(in.begin() + static_cast<std::ptrdiff_t>(nx), in.end());
          const Tensors o = packed ? op.varlen(xi, hi, cu, chunk) : run_alone(op, xi, hi, kLengths);
          at::Tensor l = at::zeros({}, at::kDouble);
          for (size_t i = 0; i < o.size(); ++i) l = l + (o[i] * weights[i]).sum();
          return l;
        };
      };
      Tensors all = x;
      all.insert(all.end(), h0.begin(), h0.end());
      const Tensors g_ref = grads_of(loss(false), all), g = grads_of(loss(true), all);
      for (size_t i = 0; i < g.size(); ++i) {
        EXPECT_GT(g_ref[i].abs().max().item<double>(), 0.0) << "input " << i;
        expect_close("grad of input " + std::to_string(i), g_ref[i], g[i], 1e-10);
      }
    }
}

// The piece-by-piece prefill the initial state exists for: a sequence in two packed calls, the
// second starting from the first's final states, equals it in one call.
TEST(Varlen, PrefillInTwoPiecesEqualsOneCall) {
  const int64_t H = 2, K = 8, V = 9;
  const std::vector<int64_t> first{40, 7}, second{23, 58}, whole{63, 65};
  for (const auto& op : cases()) {
    SCOPED_TRACE(op.name);
    Rng rng(9);
    const Tensors x = op.inputs(63 + 65, H, K, V, rng), h0 = op.states(2, H, K, V, rng);
    // Packed as [seq 0 | seq 1]; piece 1 holds the first 40 and 7 tokens, piece 2 the rest.
    auto pieces = [&](int64_t p) {
      Tensors xs;
      for (const auto& t : x) {
        xs.push_back(p == 0 ? at::cat({t.narrow(1, 0, 40), t.narrow(1, 63, 7)}, 1)
                            : at::cat({t.narrow(1, 40, 23), t.narrow(1, 70, 58)}, 1));
      }
      return xs;
    };
    const Tensors one = op.varlen(x, h0, offsets(whole), 16);
    const Tensors a = op.varlen(pieces(0), h0, offsets(first), 16);
    const Tensors b = op.varlen(pieces(1), Tensors(a.begin() + 1, a.end()), offsets(second), 16);
    const at::Tensor o_two =
        at::cat({a[0].narrow(1, 0, 40), b[0].narrow(1, 0, 23), a[0].narrow(1, 40, 7), b[0].narrow(1, 23, 58)}, 1);
    expect_close("o", one[0], o_two, 1e-10);
    for (size_t i = 1; i < one.size(); ++i) expect_close("final state " + std::to_string(i), one[i], b[i], 1e-10);
  }
}

TEST(Varlen, OnlyEmptySequencesReturnTheInitialStates) {
  const auto op = affine_case("scalar gate", GateKind::Scalar);
  Rng rng(1);
  const Tensors x = op.inputs(0, 2, 4, 3, rng), h0 = op.states(2, 2, 4, 3, rng);
  const Tensors out = op.varlen(x, h0, offsets({0, 0}), 16);
  EXPECT_EQ(out[0].sizes(), at::IntArrayRef({1, 0, 2, 3}));
  EXPECT_TRUE(out[1].equal(h0[0]));
  const auto ml = mlstm_case();
  const Tensors s = ml.states(2, 2, 4, 3, rng);
  const Tensors out_ml = ml.varlen(ml.inputs(0, 2, 4, 3, rng), s, offsets({0, 0}), 16);
  for (size_t i = 1; i < out_ml.size(); ++i) EXPECT_TRUE(out_ml[i].equal(s[i - 1]));
}

void expect_error(const std::function<void()>& call, const std::string& part) {
  try {
    call();
    ADD_FAILURE() << "no error; expected one containing '" << part << "'";
  } catch (const scanlab::Error& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

TEST(Varlen, RefusesBadCuSeqlensAndStateCountsNamingWhatWasExpected) {
  Rng rng(2);
  const auto op = affine_case("scalar gate", GateKind::Scalar);
  const Tensors x = op.inputs(10, 2, 4, 3, rng), h0 = op.states(2, 2, 4, 3, rng);
  auto run = [&](const at::Tensor& cu, const Tensors& h) { return [&, cu, h] { op.varlen(x, h, cu, 16); }; };
  expect_error(run(at::tensor({0, 4, 10}, at::kInt), h0), "cu_seqlens has dtype Int; expected int64");
  expect_error(run(at::tensor({0, 7, 4, 10}, at::kLong), op.states(3, 2, 4, 3, rng)),
               "cu_seqlens is not increasing: cu_seqlens[2] = 4 < cu_seqlens[1] = 7");
  expect_error(run(at::tensor({0, 4, 9}, at::kLong), h0),
               "cu_seqlens[2] (the last offset) is 9; expected total_T = 10");
  expect_error(run(at::tensor({1, 4, 10}, at::kLong), h0), "cu_seqlens[0] is 1; expected 0");
  expect_error(run(at::tensor({10}, at::kLong), h0), "expected [S + 1] offsets with at least one sequence");
  expect_error(run(at::tensor({0, 4, 6, 10}, at::kLong), h0), "h0 holds 2 initial states");
  expect_error(run(at::tensor({0, 4, 6, 10}, at::kLong), h0), "expected 3, one per sequence of cu_seqlens");
  // Inputs must be packed: batch 1, the same total length.
  auto q2 = x[0].expand({2, 10, 2, 4});
  expect_error(
      [&] {
        affine_scan_varlen({q2, q2, x[2], x[3], h0[0], 16}, at::tensor({0, 4, 10}, at::kLong));
      },
      "expected packed sequences [1, total_T = 10, H, ...]");
  const auto ml = mlstm_case();
  expect_error(
      [&] {
        ml.varlen(ml.inputs(10, 2, 4, 3, rng), ml.states(3, 2, 4, 3, rng), offsets({4, 6}), 16);
      },
      "mlstm_varlen: state C holds 3 initial states");
  const auto dr = delta_case("delta rule", false);
  expect_error(
      [&] {
        dr.varlen(dr.inputs(10, 2, 4, 3, rng), h0, offsets({4, 5}), 16);
      },
      "delta_rule_varlen: cu_seqlens[2] (the last offset) is 9");
}

// bf16 packed calls on the GPU (the fused chunked kernels where they take the padded batch: K = V =
// 64) against each sequence alone in float64 on the CPU, on the same rounded inputs.
TEST(VarlenCuda, Bfloat16PackedCallsMatchFloat64SequencesAloneWithinRelativeRms) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const std::vector<int64_t> lengths{1, 63, 0, 100, 37, 300};
  const int64_t H = 2, K = 64, V = 64, S = static_cast<int64_t>(lengths.size());
  const at::Tensor cu = offsets(lengths);
  const int64_t total = cu[-1].item<int64_t>();
  auto cast = [](const Tensors& t, at::ScalarType dt, at::Device dev) {
    Tensors y;
    for (const auto& e : t) y.push_back(e.to(dev, dt));
    return y;
  };
  for (const auto& op : cases()) {
    SCOPED_TRACE(op.name);
    Rng rng(21);
    const Tensors x = cast(op.inputs(total, H, K, V, rng), at::kBFloat16, at::kCPU);
    const Tensors h0 = cast(op.states(S, H, K, V, rng), at::kFloat, at::kCPU);
    const Tensors x64 = cast(x, at::kDouble, at::kCPU), h64 = cast(h0, at::kDouble, at::kCPU);
    const Tensors ref = run_alone(op, x64, h64, lengths);
    Tensors weights;
    for (const auto& t : ref) weights.push_back(rng.randn(t.sizes()));
    const Tensors xc = cast(x, at::kBFloat16, at::kCUDA), hc = cast(h0, at::kFloat, at::kCUDA);
    const Tensors out = op.varlen(xc, hc, cu.to(at::kCUDA), 64);
    EXPECT_EQ(out[0].scalar_type(), at::kBFloat16);
    EXPECT_LT(rel_rms(ref[0], out[0]), 1.5e-2) << "o";
    for (size_t i = 1; i < out.size(); ++i) EXPECT_LT(rel_rms(ref[i], out[i]), 1.5e-2) << "final state " << i;
    // Gradients of the bf16 packed call (inputs and initial states) against the float64 sequences alone.
    const size_t nx = x.size();
    auto loss = [&](bool packed, at::Device d) {
      return [&, packed, d](const Tensors& in) {
        const Tensors xi(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(nx));
        const Tensors hi(in.begin() + static_cast<std::ptrdiff_t>(nx), in.end());
        const Tensors o = packed ? op.varlen(xi, hi, cu.to(d), 64) : run_alone(op, xi, hi, lengths);
        at::Tensor l = at::zeros({}, at::TensorOptions().dtype(at::kDouble).device(d));
        for (size_t i = 0; i < o.size(); ++i) l = l + (o[i].to(at::kDouble) * weights[i].to(d)).sum();
        return l;
      };
    };
    Tensors all64 = x64, allc = xc;
    all64.insert(all64.end(), h64.begin(), h64.end());
    allc.insert(allc.end(), hc.begin(), hc.end());
    const Tensors g_ref = grads_of(loss(false, at::kCPU), all64), g = grads_of(loss(true, at::kCUDA), allc);
    // mLSTM's bf16 gradients are ill-conditioned where q·n is near 0 (tests/ops/test_chunked_ops.cpp).
    const double grad_bound = op.name == "mlstm" ? 0.15 : 2e-2;
    for (size_t i = 0; i < g.size(); ++i) EXPECT_LT(rel_rms(g_ref[i], g[i]), grad_bound) << "grad of input " << i;
  }
}

}  // namespace
}  // namespace scanlab::ops
