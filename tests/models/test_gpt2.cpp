// GPT-2 and sliding-window specifics: how stream state grows (linearly in T vs constant after W),
// that the window really limits what a token sees, the tied/untied head, and the n_positions bound.
#include <gtest/gtest.h>
#include <torch/utils.h>

#include "core/check.h"
#include "models/gpt2.h"
#include "models/registry.h"
#include "support/model_checks.h"

namespace scanlab::models {
namespace {

std::shared_ptr<SequenceModel> make_small(const std::string& name, nlohmann::json overrides = {}) {
  at::manual_seed(9);
  nlohmann::json config = find_model(name).small_config();
  if (!overrides.is_null()) config.update(overrides);
  auto m = make_model(config);
  testing::widen_weights(*m);
  m->to(at::kDouble);
  m->eval();
  return m;
}

// k and v per layer, [B, H, 1, D/H] float64 per token.
int64_t bytes_per_token(int64_t batch, int64_t n_layer, int64_t n_embd) { return 2 * n_layer * batch * n_embd * 8; }

TEST(Gpt2, StateBytesGrowLinearlyInT) {
  auto m = make_small("gpt2");
  torch::NoGradGuard no_grad;
  auto stream = m->start_stream(2);
  EXPECT_EQ(stream->state_bytes(), 0);
  for (int64_t t = 1; t <= 20; ++t) {
    stream->step(at::randint(0, 37, {2}, at::kLong));
    EXPECT_EQ(stream->state_bytes(), t * bytes_per_token(2, 2, 16));
  }
}

TEST(SlidingWindow, StateBytesAreConstantAfterWTokens) {
  auto m = make_small("sliding_window");  // window 4
  torch::NoGradGuard no_grad;
  auto stream = m->start_stream(2);
  for (int64_t t = 1; t <= 20; ++t) {
    stream->step(at::randint(0, 37, {2}, at::kLong));
    EXPECT_EQ(stream->state_bytes(), std::min<int64_t>(t, 4) * bytes_per_token(2, 2, 16));
  }
}

TEST(SlidingWindow, ATokenSeesOnlyTheLastWTokens) {
  auto m = make_small("sliding_window", {{"n_layer", 1}});
  torch::NoGradGuard no_grad;
  at::Tensor a = at::randint(0, 37, {1, 10}, at::kLong), b = a.clone();
  b[0][2] = (a[0][2].item<int64_t>() + 1) % 37;  // change token 2
  const at::Tensor la = m->forward(a), lb = m->forward(b);
  // One layer, window 4: positions 2..5 see token 2, the rest do not.
  for (int64_t t = 0; t < 10; ++t) {
    const bool sees = t >= 2 && t <= 5;
    EXPECT_EQ(at::equal(la[0][t], lb[0][t]), !sees) << "position " << t;
  }
}

TEST(SlidingWindow, LongPrefillMatchesSteps) {
  auto m = make_small("sliding_window", {{"window", 3}});
  testing::expect_dual(*m, at::randint(0, 37, {2, 30}, at::kLong), 1e-10, "window 3, T 30");
}

TEST(Gpt2, UntiedHeadAndFullWidthAreDual) {
  auto m = make_small("gpt2", {{"tie_word_embeddings", false}, {"n_layer", 3}});
  EXPECT_TRUE(m->named_parameters().contains("lm_head.weight"));
  EXPECT_FALSE(make_small("gpt2")->named_parameters().contains("lm_head.weight"));
  testing::expect_dual(*m, at::randint(0, 37, {3, 32}, at::kLong), 1e-10, "gpt2 untied");
}

TEST(Gpt2, PositionsPastNPositionsAreAClearError) {
  auto m = make_small("gpt2", {{"n_positions", 5}});
  torch::NoGradGuard no_grad;
  EXPECT_THROW(m->forward(at::zeros({1, 6}, at::kLong)), Error);
  auto stream = m->start_stream(1);
  for (int i = 0; i < 5; ++i) stream->step(at::zeros({1}, at::kLong));
  EXPECT_THROW(stream->step(at::zeros({1}, at::kLong)), Error);
}

TEST(Gpt2, BadTokensAndConfigsAreClearErrors) {
  auto m = make_small("gpt2");
  torch::NoGradGuard no_grad;
  EXPECT_THROW(m->forward(at::full({1, 3}, 37, at::kLong)), Error);     // id == vocab
  EXPECT_THROW(m->forward(at::zeros({3}, at::kLong)), Error);           // not [B, T]
  EXPECT_THROW(m->forward(at::zeros({1, 3}, at::kInt)), Error);         // not int64
  EXPECT_THROW(make_model({{"model", "gpt2"}, {"window", 4}}), Error);  // window is sliding_window's
  EXPECT_THROW(make_model({{"model", "sliding_window"}, {"window", 0}}), Error);
  EXPECT_THROW(make_model({{"model", "gpt2"}, {"tie_word_embeddings", "yes"}}), Error);
}

}  // namespace
}  // namespace scanlab::models
