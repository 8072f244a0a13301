// Flip-flop (set-reset monoid) generator: labels are the last written value, recomputed here from the
// tokens alone; every example starts with a write; writes come at the configured rate; examples are
// a function of (seed, split, index); bad options are errors naming the key.
#include <gtest/gtest.h>

#include <string>

#include "core/check.h"
#include "tasks/flip_flop.h"

namespace scanlab::tasks {
namespace {

FlipFlopOptions small(int64_t T = 40) {
  FlipFlopOptions o;
  o.seq_len = T;
  o.num_values = 3;
  o.num_distractors = 5;
  o.write_prob = 0.2;
  o.num_train = 500;
  o.num_val = 50;
  return o;
}

TEST(FlipFlop, LabelsAreTheLastWrittenValue) {
  const FlipFlopTask task(small());
  EXPECT_EQ(task.vocab_size(), 3 + 3 + 5);
  EXPECT_EQ(task.alignment(), LossAlignment::Unshifted);
  const auto batch = task.range(Split::Train, 0, 200);
  const auto in = batch.inputs.accessor<int64_t, 2>();
  const auto lb = batch.labels.accessor<int64_t, 2>();
  const auto last = task.last_write_index(batch.inputs);
  const auto lw = last.accessor<int64_t, 2>();
  EXPECT_TRUE(last.select(1, 0).eq(0).all().item<bool>());
  const int64_t first_write = FlipFlopTask::write_token(0), last_write = FlipFlopTask::write_token(2);
  for (int64_t b = 0; b < 200; ++b) {
    ASSERT_GE(in[b][0], first_write);
    ASSERT_LE(in[b][0], last_write) << "example " << b << " does not start with a write";
    int64_t current = -1;
    for (int64_t t = 0; t < 40; ++t) {
      const int64_t tok = in[b][t];
      ASSERT_GE(tok, FlipFlopTask::kNumSpecialTokens);
      ASSERT_LT(tok, task.vocab_size());
      if (tok <= last_write) current = tok;
      ASSERT_EQ(lb[b][t], current) << "example " << b << " position " << t;
      ASSERT_EQ(in[b][lw[b][t]], current) << "the last write's index points at another token";
    }
  }
}

TEST(FlipFlop, WritesComeAtTheConfiguredRateAndValuesAreUniform) {
  auto o = small(200);
  o.num_train = 400;
  const FlipFlopTask task(o);
  const auto in = task.range(Split::Train, 0, 400).inputs;
  const auto rest = in.slice(1, 1);  // the first action is always a write
  const double rate = rest.le(FlipFlopTask::write_token(2)).to(at::kDouble).mean().item<double>();
  // 79,600 Bernoulli(0.2) draws: the standard deviation of the mean is 0.0014.
  EXPECT_NEAR(rate, 0.2, 0.01);
  for (int64_t v = 0; v < 3; ++v) {
    const double share = in.eq(FlipFlopTask::write_token(v)).to(at::kDouble).sum().item<double>() /
                         in.le(FlipFlopTask::write_token(2)).to(at::kDouble).sum().item<double>();
    EXPECT_NEAR(share, 1.0 / 3.0, 0.02) << "value " << v;
  }
}

TEST(FlipFlop, ExamplesDependOnlyOnSeedSplitAndIndex) {
  const FlipFlopTask task(small());
  const auto a = task.examples(Split::Train, {7, 3, 7});
  EXPECT_TRUE(at::equal(a.inputs[0], a.inputs[2]));
  EXPECT_FALSE(at::equal(a.inputs[0], a.inputs[1]));
  EXPECT_TRUE(at::equal(task.range(Split::Train, 3, 5).inputs[0], a.inputs[1]));
  EXPECT_FALSE(at::equal(task.examples(Split::Validation, {7}).inputs[0], a.inputs[0]));
  auto other = small();
  other.seed = 1;
  other.val_seed = 11;
  EXPECT_FALSE(at::equal(FlipFlopTask(other).examples(Split::Train, {7}).inputs[0], a.inputs[0]));
}

TEST(FlipFlop, BadOptionsAreErrorsNamingTheKey) {
  const auto expect_error = [](FlipFlopOptions o, const std::string& key) {
    try {
      FlipFlopTask task(o);
      FAIL() << "accepted bad " << key;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  };
  auto o = small();
  o.num_values = 1;
  expect_error(o, "num_values");
  o = small();
  o.write_prob = 0;
  expect_error(o, "write_prob");
  o = small();
  o.write_prob = 1.5;
  expect_error(o, "write_prob");
  o = small();
  o.num_distractors = 0;
  expect_error(o, "num_distractors");
  o = small();
  o.val_seed = o.seed;
  expect_error(o, "val_seed");
  const FlipFlopTask task(small());
  EXPECT_THROW(task.examples(Split::Validation, {50}), Error);
}

}  // namespace
}  // namespace scanlab::tasks
