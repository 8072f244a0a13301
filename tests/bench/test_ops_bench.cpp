// `scanlab bench ops` in process at a tiny CPU shape: a row per op and pass, and --dump files that
// the project's safetensors reader loads, holding inputs, o, final state and gradients that match
// the op run again on the dumped inputs.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/check.h"
#include "io/safetensors.h"
#include "ops/affine_scan/affine_scan.h"
#include "ops/delta_rule/delta_rule.h"
#include "ops_bench.h"

namespace scanlab::bench {
namespace {

OpsBenchOptions tiny() {
  OpsBenchOptions o;
  o.lengths = {16};
  o.tokens = 32;
  o.heads = {2};
  o.dims = {4};
  o.chunk = 8;
  o.repeats = 1;
  return o;
}

TEST(OpsBench, RowPerOpAndPass) {
  const auto o = tiny();
  const auto rows = run_ops_bench(o, at::kCPU);
  ASSERT_EQ(rows.size(), 2 * ops_bench_op_names().size());
  for (const auto& r : rows) {
    EXPECT_EQ(r.batch, 2);
    EXPECT_GT(r.flops, 0);
    EXPECT_GT(r.min_bytes, 0);
  }
  // fwd+bwd moves the inputs three times, o once and dO once: q k v log_a (3 * 4 + 1 floats per token-head).
  const auto& scalar_fwdbwd = rows[3];
  ASSERT_EQ(scalar_fwdbwd.op, "scalar_gate");
  ASSERT_EQ(scalar_fwdbwd.pass, "fwdbwd");
  const double per_token_head = 4.0 * (3 * 13 + 4 + 4), state = 4.0 * 2 * 2 * 4 * 4;
  EXPECT_DOUBLE_EQ(scalar_fwdbwd.min_bytes, 32 * 2 * per_token_head + state);
  const std::string md = format_ops_bench(rows, o, at::kCPU);
  for (const auto& name : ops_bench_op_names()) EXPECT_NE(md.find("| " + name + " |"), std::string::npos) << name;
}

// Both paths asked for on the CPU, where no op has fused kernels: one torch row per cell, not two;
// an unknown path is named.
TEST(OpsBench, PathsColumnSaysWhatRan) {
  auto o = tiny();
  o.ops = {"scalar_gate", "mlstm"};
  o.passes = {"fwd"};
  o.paths = {"auto", "torch"};
  const auto rows = run_ops_bench(o, at::kCPU);
  ASSERT_EQ(rows.size(), 2u);
  for (const auto& r : rows) {
    EXPECT_EQ(r.path, "torch");
    EXPECT_GT(r.first_ms, 0);
  }
  EXPECT_NE(format_ops_bench(rows, o, at::kCPU).find("| fwd | torch |"), std::string::npos);
  o.paths = {"cuda"};
  try {
    run_ops_bench(o, at::kCPU);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--paths 'cuda': expected auto, torch, recurrence, tf32-walk or float32-walk"),
              std::string::npos)
        << e.what();
  }
}

// --state-segments only reaches the fused kernels: on the CPU the rows are the torch form's; a
// negative count is named.
TEST(OpsBench, StateSegmentsAreCheckedAndLeaveOtherPathsAlone) {
  auto o = tiny();
  o.ops = {"linear_attn"};
  o.passes = {"fwd"};
  o.state_segments = 1;
  const auto rows = run_ops_bench(o, at::kCPU);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].path, "torch");
  o.state_segments = -1;
  try {
    run_ops_bench(o, at::kCPU);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--state-segments -1 must be >= 0"), std::string::npos) << e.what();
  }
}

// --varlen: the drawn lengths sum to --tokens (each at least one, around the mean), every op runs as
// one packed call, and the paths it cannot take are refused.
TEST(OpsBench, VarlenPacksLengthsThatSumToTheTokens) {
  for (int64_t mean : {1, 3, 16, 100}) {
    const auto lengths = varlen_bench_lengths(1200, mean, 7);
    ASSERT_EQ(static_cast<int64_t>(lengths.size()), 1200 / mean);
    int64_t sum = 0;
    for (int64_t L : lengths) {
      EXPECT_GE(L, 1);
      EXPECT_LE(L, 2 * mean);  // drawn at most 3 mean / 2, then at most mean / 2 added
      sum += L;
    }
    EXPECT_EQ(sum, 1200) << "mean " << mean;
    EXPECT_EQ(lengths, varlen_bench_lengths(1200, mean, 7));  // seeded
  }
  auto o = tiny();
  o.varlen = true;
  const auto rows = run_ops_bench(o, at::kCPU);
  ASSERT_EQ(rows.size(), 2 * ops_bench_op_names().size());
  for (const auto& r : rows) {
    EXPECT_EQ(r.path, "torch, varlen");
    EXPECT_EQ(r.batch, 2);
    EXPECT_GE(r.longest, 16);
  }
  EXPECT_NE(format_ops_bench(rows, o, at::kCPU).find("| torch, varlen (longest "), std::string::npos);
  o.paths = {"torch"};
  try {
    run_ops_bench(o, at::kCPU);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--varlen runs the routed entry points only"), std::string::npos) << e.what();
  }
}

TEST(OpsBench, UnknownOpNamesTheKnownOnes) {
  auto o = tiny();
  o.ops = {"gla", "flash"};
  try {
    run_ops_bench(o, at::kCPU);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown op 'flash'; known ops: linear_attn, scalar_gate, gla"),
              std::string::npos)
        << e.what();
  }
}

TEST(OpsBench, DumpHoldsInputsOutputsAndGradients) {
  const auto dir = std::filesystem::temp_directory_path() / "scanlab_test_ops_dump";
  std::filesystem::remove_all(dir);
  auto o = tiny();
  o.ops = {"gated_delta_rule", "gla"};
  o.passes = {"fwd"};
  o.dump_dir = dir.string();
  run_ops_bench(o, at::kCPU);
  const auto st = io::load_safetensors((dir / "gated_delta_rule_T16_B2_H2_d4.safetensors").string());
  for (const char* name : {"q", "k", "v", "beta", "log_a", "o", "h_final", "do", "dq", "dk", "dv", "dbeta", "dlog_a"})
    EXPECT_TRUE(st.tensors.count(name)) << name;
  EXPECT_EQ(st.metadata.at("op"), "gated_delta_rule");
  auto t = [&](const char* name) { return st.tensors.at(name); };
  EXPECT_EQ(t("q").sizes(), (std::vector<int64_t>{2, 16, 2, 4}));
  // The dumped o and gradients are those of the op on the dumped inputs.
  std::vector<at::Tensor> in;
  for (const char* name : {"q", "k", "v", "beta", "log_a"}) in.push_back(t(name).clone().requires_grad_(true));
  auto out = ops::delta_rule_chunked({in[0], in[1], in[2], in[3], in[4], {}, 8});
  EXPECT_TRUE(at::allclose(out.o, t("o"), 1e-5, 1e-6));
  EXPECT_TRUE(at::allclose(out.h_final, t("h_final"), 1e-5, 1e-6));
  out.o.backward(t("do"));
  EXPECT_TRUE(at::allclose(in[0].grad(), t("dq"), 1e-5, 1e-6));
  EXPECT_TRUE(at::allclose(in[3].grad(), t("dbeta"), 1e-5, 1e-6));
  const auto gla = io::load_safetensors((dir / "gla_T16_B2_H2_d4.safetensors").string());
  EXPECT_EQ(gla.tensors.at("dlog_a").sizes(), (std::vector<int64_t>{2, 16, 2, 4}));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace scanlab::bench
