// models::step_together over every registered model, no skip list: streams of batch 1 at different
// positions (a fresh one, prefilled ones inside and at the end of a chunk) stepped as one batch
// give the logits and the states that stepping each alone gives, across chunk boundaries, in
// float64 to 1e-12 and float32 to 1e-4 (a batched product and a batch-1 one may take different
// BLAS kernels: mLSTM's float32 logits differ by 2.5e-5 on an AMD EPYC with Debian's OpenBLAS); likewise
// SequenceModel::prefill_together (prompts batched by length, the stream split per prompt) against one prefill per
// prompt; both again on CUDA in float32 where a GPU is present. Plus the contract's edges: a stream at its limit throws
// before any stream moves, streams of two models still step, bad calls are one-line errors.
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include "core/check.h"
#include "models/registry.h"
#include "support/model_checks.h"

namespace scanlab::models {
namespace {

// Prompt lengths of the streams stepped together (0: a fresh stream). With the small T-PSM's
// C = 4 they sit at different offsets in a chunk, with and without a prefix state, and the 9 steps
// below carry each across two boundaries; 0 and 4 complete chunks in the same ticks with different
// counts, the two 6s and the two 11s with equal ones (their boundary work runs as one).
const std::vector<int64_t> kPrompts = {0, 1, 4, 6, 11, 6, 11};
constexpr int64_t kSteps = 9;

// The two checks, for a model on any device: `tol` is the largest allowed max-abs difference.
struct TogetherChecks {
  SequenceModel& model;
  std::string name;
  double tol;

  at::Device device() const { return model.parameters().front().device(); }
  at::Tensor random_tokens(int64_t b, int64_t t) const {
    return at::randint(0, model.vocab_size(), t < 0 ? std::vector<int64_t>{b} : std::vector<int64_t>{b, t}, at::kLong)
        .to(device());
  }
  // A stream after `prompt` (prefilled in parallel), or a fresh one for an empty prompt.
  std::unique_ptr<Stream> stream_after(const at::Tensor& prompt) const {
    if (prompt.size(1) == 0) return model.start_stream(1);
    return model.prefill(prompt).second;
  }
  void expect_same_state(const Stream& expected, const Stream& actual, const std::string& what) const {
    const auto a = expected.save(), b = actual.save();
    ASSERT_EQ(a.size(), b.size()) << name << " " << what;
    for (const auto& [key, value] : a) {
      ASSERT_TRUE(b.count(key)) << name << " " << what << " lacks " << key;
      testing::expect_close(name + " " + what + " state " + key, value, b.at(key), tol);
    }
  }

  void steps_equal_stepping_each_alone() const {
    torch::NoGradGuard no_grad;
    std::vector<std::unique_ptr<Stream>> together, alone;
    for (int64_t len : kPrompts) {
      const at::Tensor prompt = random_tokens(1, len);
      together.push_back(stream_after(prompt));
      alone.push_back(stream_after(prompt));
    }
    std::vector<Stream*> group;
    for (auto& s : together) group.push_back(s.get());
    for (int64_t t = 0; t < kSteps; ++t) {
      const at::Tensor tokens = random_tokens(static_cast<int64_t>(group.size()), -1);
      const at::Tensor logits = step_together(group, tokens);
      ASSERT_EQ(logits.sizes(), at::IntArrayRef({static_cast<int64_t>(group.size()), model.vocab_size()}));
      EXPECT_EQ(logits.scalar_type(), model.parameters().front().scalar_type());
      EXPECT_EQ(logits.device(), device());
      for (size_t i = 0; i < group.size(); ++i) {
        const std::string what = name + " stream " + std::to_string(i) + " after " + std::to_string(kPrompts[i] + t);
        const at::Tensor expected = alone[i]->step(tokens.narrow(0, static_cast<int64_t>(i), 1));
        testing::expect_close(what + " logits", expected, logits.narrow(0, static_cast<int64_t>(i), 1), tol);
        EXPECT_EQ(together[i]->position(), alone[i]->position()) << what;
        EXPECT_EQ(together[i]->state_bytes(), alone[i]->state_bytes()) << what;
      }
    }
    // The states themselves, not only this step's logits: what a saved session would hold.
    for (size_t i = 0; i < group.size(); ++i) expect_same_state(*alone[i], *together[i], "stream " + std::to_string(i));
  }

  // Prompts of mixed lengths prefilled together (those of one length as one batch, at most 8 tokens
  // a batch, so the three of length 3 go as 2 + 1) give each prompt its own prefill's logits and a
  // stream that continues as its own prefill's stream does.
  void prefill_together_equals_prefilling_each_prompt() const {
    torch::NoGradGuard no_grad;
    std::vector<at::Tensor> prompts;
    for (int64_t len : {3, 5, 3, 6, 1, 3}) prompts.push_back(random_tokens(1, len));
    auto together = model.prefill_together(prompts, /*max_batch_tokens=*/8);
    ASSERT_EQ(together.size(), prompts.size());
    for (size_t i = 0; i < prompts.size(); ++i) {
      const std::string what = name + " prompt " + std::to_string(i);
      auto [logits, alone] = model.prefill(prompts[i]);
      testing::expect_close(what + " prefill logits", logits, together[i].first, tol);
      Stream& s = *together[i].second;
      EXPECT_EQ(s.position(), prompts[i].size(1)) << what;
      for (int64_t t = 0; t < 6; ++t) {
        const at::Tensor token = random_tokens(1, -1);
        testing::expect_close(what + " step " + std::to_string(t), alone->step(token), s.step(token), tol);
      }
      expect_same_state(*alone, s, "prompt " + std::to_string(i));
    }
    EXPECT_THROW(model.prefill_together({at::zeros({2, 3}, at::kLong).to(device())}, 8), Error);
  }
};

class StepTogether : public testing::EveryModel {
 protected:
  void SetUp() override { make(23); }
  TogetherChecks checks() { return {*model, name(), dtype() == at::kDouble ? 1e-12 : 1e-4}; }
};

TEST_P(StepTogether, EqualsSteppingEachStreamAlone) { checks().steps_equal_stepping_each_alone(); }
TEST_P(StepTogether, PrefillTogetherEqualsPrefillingEachPrompt) {
  checks().prefill_together_equals_prefilling_each_prompt();
}

INSTANTIATE_TEST_SUITE_P(EveryRegisteredModel, StepTogether, testing::every_model_and_dtype(),
                         testing::model_and_dtype_name);

// The same on CUDA in float32 (what `scanlab serve --device cuda` runs each tick): the affine states
// stacked on the device, GPT-2's padded caches, the T-PSM's stacked Inf slots. Skipped without a GPU.
// The bound is looser than on the CPU: a batched product and a batch-1 one may take different
// cuBLAS kernels, which sum in another order.
class StepTogetherCuda : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
    at::manual_seed(29);
    model = make_model(find_model(GetParam()).small_config());
    testing::widen_weights(*model);
    model->to(at::Device(at::kCUDA, 0), at::kFloat);
    model->eval();
  }
  std::shared_ptr<SequenceModel> model;
};

TEST_P(StepTogetherCuda, EqualsSteppingEachStreamAlone) {
  TogetherChecks{*model, GetParam() + " cuda", 1e-4}.steps_equal_stepping_each_alone();
}
TEST_P(StepTogetherCuda, PrefillTogetherEqualsPrefillingEachPrompt) {
  TogetherChecks{*model, GetParam() + " cuda", 1e-4}.prefill_together_equals_prefilling_each_prompt();
}

INSTANTIATE_TEST_SUITE_P(EveryRegisteredModel, StepTogetherCuda, ::testing::ValuesIn(model_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

std::shared_ptr<SequenceModel> small_model(const std::string& name) {
  at::manual_seed(5);
  auto m = make_model(find_model(name).small_config());
  m->eval();
  return m;
}

// GPT-2's small config has n_positions 32: a stream that has read 32 tokens cannot step. The
// group throws the stream's own message, and no stream in it moved.
TEST(StepTogetherLimits, AStreamAtItsLimitThrowsBeforeAnyStreamMoves) {
  torch::NoGradGuard no_grad;
  auto m = small_model("gpt2");
  auto fine = m->prefill(at::zeros({1, 3}, at::kLong)).second;
  auto full = m->prefill(at::zeros({1, 32}, at::kLong)).second;
  try {
    step_together({fine.get(), full.get()}, at::zeros({2}, at::kLong));
    ADD_FAILURE() << "a stream past n_positions stepped";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("n_positions"), std::string::npos) << e.what();
  }
  EXPECT_EQ(fine->position(), 3);
  EXPECT_EQ(full->position(), 32);
  EXPECT_THROW(full->check_next_step(), Error);
  EXPECT_NO_THROW(fine->check_next_step());
}

// Streams of two models in one group take the one-by-one path and still equal their own steps.
TEST(StepTogetherLimits, StreamsOfTwoModelsStillStep) {
  torch::NoGradGuard no_grad;
  auto g = small_model("gpt2"), p = small_model("transformer_psm");
  auto a = g->prefill(at::ones({1, 2}, at::kLong)).second, b = p->prefill(at::ones({1, 6}, at::kLong)).second;
  auto a2 = g->prefill(at::ones({1, 2}, at::kLong)).second, b2 = p->prefill(at::ones({1, 6}, at::kLong)).second;
  const at::Tensor tokens = at::tensor({3, 7}, at::kLong);
  const at::Tensor logits = step_together({a.get(), b.get()}, tokens);
  EXPECT_TRUE(at::equal(logits.narrow(0, 0, 1), a2->step(tokens.narrow(0, 0, 1))));
  EXPECT_TRUE(at::equal(logits.narrow(0, 1, 1), b2->step(tokens.narrow(0, 1, 1))));
}

TEST(StepTogetherLimits, BadCallsAreErrorsNamingWhatIsWrong) {
  torch::NoGradGuard no_grad;
  auto m = small_model("gla");
  auto a = m->start_stream(1), b = m->start_stream(1), wide = m->start_stream(2);
  auto message = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message([&] {
              step_together({a.get(), b.get()}, at::zeros({3}, at::kLong));
            }).find("one per stream"),
            std::string::npos);
  EXPECT_NE(message([&] {
              step_together({a.get(), a.get()}, at::zeros({2}, at::kLong));
            }).find("listed twice"),
            std::string::npos);
  EXPECT_NE(message([&] {
              step_together({a.get(), wide.get()}, at::zeros({2}, at::kLong));
            }).find("batch 1"),
            std::string::npos);
  EXPECT_NE(message([&] {
              step_together({a.get(), b.get()}, at::full({2}, 999, at::kLong));
            }).find("token ids"),
            std::string::npos);
  EXPECT_EQ(a->position(), 0);
}

}  // namespace
}  // namespace scanlab::models
