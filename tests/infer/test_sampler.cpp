// Sampling rules and latency statistics on hand-made inputs.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include "core/check.h"
#include "infer/latency_stats.h"
#include "infer/sampler.h"

namespace scanlab::infer {
namespace {

at::Tensor logits_fixture() {
  // Two rows: different argmax, distinct probabilities.
  return at::tensor({1.0, 3.0, 2.0, 0.5, 2.5, 0.0, -1.0, 1.0}, at::kFloat).reshape({2, 4});
}

TEST(Sampler, TemperatureZeroIsArgmaxWhateverTheGenerator) {
  for (uint64_t seed : {0ull, 1ull, 99ull}) {
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    at::Tensor out = sample_next(logits_fixture(), {0.0, 0, 1.0}, gen);
    EXPECT_EQ(out[0].item<int64_t>(), 1);
    EXPECT_EQ(out[1].item<int64_t>(), 0);
  }
}

// Extreme temperatures stay well defined: a tiny one is the argmax (1e-300 gave NaN probabilities in
// float32), a huge one is uniform.
TEST(Sampler, ExtremeTemperaturesAreArgmaxAndUniform) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(2);
  for (int i = 0; i < 50; ++i) {
    at::Tensor out = sample_next(logits_fixture(), {1e-300, 0, 1.0}, gen);
    EXPECT_EQ(out[0].item<int64_t>(), 1);
    EXPECT_EQ(out[1].item<int64_t>(), 0);
  }
  std::vector<int> counts(4, 0);
  for (int i = 0; i < 4000; ++i) counts[sample_next(logits_fixture(), {1e300, 0, 1.0}, gen)[0].item<int64_t>()]++;
  for (int v = 0; v < 4; ++v) EXPECT_NEAR(counts[v] / 4000.0, 0.25, 0.04) << "token " << v;
}

TEST(Sampler, TopKAndTopPRestrictTheCandidates) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(5);
  for (int i = 0; i < 200; ++i) {
    at::Tensor k1 = sample_next(logits_fixture(), {1.5, 1, 1.0}, gen);
    EXPECT_EQ(k1[0].item<int64_t>(), 1);
    at::Tensor k2 = sample_next(logits_fixture(), {1.0, 2, 1.0}, gen);
    const int64_t t = k2[0].item<int64_t>();
    EXPECT_TRUE(t == 1 || t == 2) << t;
    at::Tensor p = sample_next(logits_fixture(), {1.0, 0, 0.3}, gen);  // top token alone holds > 0.3
    EXPECT_EQ(p[0].item<int64_t>(), 1);
  }
}

TEST(Sampler, FrequenciesFollowTheSoftmax) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(11);
  at::Tensor logits = logits_fixture().slice(0, 0, 1);
  const at::Tensor expected = (logits / 2.0).softmax(-1)[0];
  std::vector<int> counts(4, 0);
  const int n = 4000;
  for (int i = 0; i < n; ++i) counts[sample_next(logits, {2.0, 0, 1.0}, gen)[0].item<int64_t>()]++;
  for (int v = 0; v < 4; ++v) {
    const double p = expected[v].item<double>();
    EXPECT_NEAR(counts[v] / static_cast<double>(n), p, 4 * std::sqrt(p * (1 - p) / n) + 1e-3) << "token " << v;
  }
}

TEST(Sampler, SameSeedSameTokens) {
  at::Generator a = at::make_generator<at::CPUGeneratorImpl>(3), b = at::make_generator<at::CPUGeneratorImpl>(3);
  for (int i = 0; i < 20; ++i)
    EXPECT_TRUE(
        at::equal(sample_next(logits_fixture(), {1.0, 3, 0.9}, a), sample_next(logits_fixture(), {1.0, 3, 0.9}, b)));
}

TEST(Sampler, BadOptionsNameTheFlag) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(0);
  auto message = [&](SamplingOptions o) {
    try {
      sample_next(logits_fixture(), o, gen);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(message({-1.0, 0, 1.0}).find("--temperature"), std::string::npos);
  EXPECT_NE(message({INFINITY, 0, 1.0}).find("--temperature inf: expected a finite value"), std::string::npos);
  EXPECT_NE(message({1.0, -2, 1.0}).find("--top-k"), std::string::npos);
  EXPECT_NE(message({1.0, 0, 0.0}).find("--top-p"), std::string::npos);
  EXPECT_NE(message({1.0, 0, 1.5}).find("--top-p"), std::string::npos);
}

TEST(LatencyStats, PercentilesAndAggSplitOnHandMadeSteps) {
  EXPECT_DOUBLE_EQ(percentile({5, 1, 3, 2, 4}, 0.5), 3);
  EXPECT_DOUBLE_EQ(percentile({5, 1, 3, 2, 4}, 0.99), 5);
  EXPECT_DOUBLE_EQ(percentile({7}, 0.0), 7);
  std::vector<StepRecord> steps;
  for (int i = 1; i <= 100; ++i) steps.push_back({static_cast<double>(i), i % 10 == 0, 1000 + i});
  LatencySummary s = summarize(steps);
  EXPECT_EQ(s.steps, 100);
  EXPECT_DOUBLE_EQ(s.p50_ms, 50);
  EXPECT_DOUBLE_EQ(s.p99_ms, 99);
  EXPECT_DOUBLE_EQ(s.max_ms, 100);
  EXPECT_EQ(s.agg_steps, 10);
  EXPECT_DOUBLE_EQ(s.agg_max_ms, 100);
  EXPECT_DOUBLE_EQ(s.agg_p50_ms, 50);
  EXPECT_DOUBLE_EQ(s.plain_p50_ms, 49);
  EXPECT_EQ(s.state_bytes_first, 1001);
  EXPECT_EQ(s.state_bytes_last, 1100);
  EXPECT_NE(format_summary(s).find("chunk-boundary steps (ran Agg): 10 steps"), std::string::npos);
  const std::string series = format_state_bytes_series(steps, 4);
  EXPECT_NE(series.find("1 1001"), std::string::npos) << series;
  EXPECT_NE(series.find("100 1100"), std::string::npos) << series;
}

}  // namespace
}  // namespace scanlab::infer
