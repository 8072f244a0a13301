// State-tracking generators: group tables against the one-line definition, label placement
// (labels[t] = s_t, s_{t+1} = s_t · a_{t+1}), determinism per example index, uniform actions.
#include <gtest/gtest.h>

#include <set>

#include "core/check.h"
#include "tasks/word_problem.h"

namespace scanlab::tasks {
namespace {

TEST(PermutationGroup, SizesAndIdentity) {
  EXPECT_EQ(PermutationGroup::from_name("S5").size(), 120);
  EXPECT_EQ(PermutationGroup::from_name("A5").size(), 60);
  EXPECT_EQ(PermutationGroup::from_name("S3").size(), 6);
  EXPECT_EQ(PermutationGroup::from_name("Z7").size(), 7);
  EXPECT_EQ(PermutationGroup::from_name("parity").size(), 2);
  const auto s5 = PermutationGroup::from_name("S5");
  EXPECT_EQ(s5.one_line(0), "12345");
  EXPECT_EQ(s5.one_line(119), "54321");
}

TEST(PermutationGroup, CompositionFollowsTheOneLineRule) {
  // (s · a)[j] = s[a[j]]: the paper's s_t[j] = s_{t-1}[a_t[j] - 1] with 1-based digits.
  for (const char* name : {"S5", "A5", "S3", "Z7", "parity"}) {
    const auto g = PermutationGroup::from_name(name);
    for (int64_t s = 0; s < g.size(); s += 7)
      for (int64_t a = 0; a < g.size(); a += 3) {
        const auto& ps = g.permutation(s);
        const auto& pa = g.permutation(a);
        const auto& pc = g.permutation(g.compose(s, a));
        for (size_t j = 0; j < ps.size(); ++j) ASSERT_EQ(pc[j], ps[static_cast<size_t>(pa[j])]) << name;
      }
  }
  const auto s5 = PermutationGroup::from_name("S5");
  // "31254" then "21345": state[j] = "31254"[a[j]-1] = "13254".
  int64_t s = -1, a = -1;
  for (int64_t e = 0; e < s5.size(); ++e) {
    if (s5.one_line(e) == "31254") s = e;
    if (s5.one_line(e) == "21345") a = e;
  }
  EXPECT_EQ(s5.one_line(s5.compose(s, a)), "13254");
}

TEST(PermutationGroup, AlternatingGroupIsNotAbelianAndCyclicIs) {
  const auto a5 = PermutationGroup::from_name("A5");
  bool commutes = true;
  for (int64_t x = 0; x < a5.size(); ++x)
    for (int64_t y = 0; y < a5.size(); ++y) commutes &= a5.compose(x, y) == a5.compose(y, x);
  EXPECT_FALSE(commutes);
  const auto z = PermutationGroup::from_name("Z7");
  for (int64_t x = 0; x < z.size(); ++x)
    for (int64_t y = 0; y < z.size(); ++y) EXPECT_EQ(z.compose(x, y), z.compose(y, x));
}

TEST(PermutationGroup, BadNamesAreErrorsThatListTheForms) {
  for (const char* bad : {"S9", "Q5", "Z1", "", "S", "Sx"}) {
    try {
      PermutationGroup::from_name(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("parity"), std::string::npos) << e.what();
    }
  }
}

TEST(WordProblemTask, LabelsAreTheComposedStates) {
  WordProblemTask task({"S5", 40, 100, 10, 3, 4});
  EXPECT_EQ(task.vocab_size(), 123);
  EXPECT_EQ(task.alignment(), LossAlignment::Shifted);
  const auto& g = task.group();
  auto batch = task.range(Split::Train, 0, 16);
  ASSERT_EQ(batch.inputs.sizes(), (std::vector<int64_t>{16, 40}));
  auto in = batch.inputs.accessor<int64_t, 2>();
  auto lb = batch.labels.accessor<int64_t, 2>();
  for (int64_t b = 0; b < 16; ++b) {
    EXPECT_EQ(lb[b][0], WordProblemTask::token_of(g.identity()));
    for (int64_t t = 0; t + 1 < 40; ++t) {
      const int64_t s = lb[b][t] - 3, a = in[b][t] - 3;
      ASSERT_EQ(lb[b][t + 1] - 3, g.compose(s, a)) << "row " << b << " position " << t;
    }
    for (int64_t t = 0; t < 40; ++t) ASSERT_TRUE(in[b][t] >= 3 && in[b][t] < 123);
  }
}

TEST(WordProblemTask, ParityLabelsAreRunningXor) {
  WordProblemTask task({"parity", 25, 50, 5, 1, 2});
  auto batch = task.range(Split::Validation, 0, 5);
  auto in = batch.inputs.accessor<int64_t, 2>();
  auto lb = batch.labels.accessor<int64_t, 2>();
  for (int64_t b = 0; b < 5; ++b) {
    int64_t x = 0;
    for (int64_t t = 0; t < 25; ++t) {
      EXPECT_EQ(lb[b][t] - 3, x);
      x ^= in[b][t] - 3;
    }
  }
}

TEST(WordProblemTask, ExamplesDependOnlyOnSeedSplitAndIndex) {
  WordProblemTask task({"A5", 162, 1000, 100, 7, 8});
  auto whole = task.range(Split::Train, 0, 8);
  auto picked = task.examples(Split::Train, {5, 2});
  EXPECT_TRUE(picked.inputs[0].equal(whole.inputs[5]));
  EXPECT_TRUE(picked.labels[1].equal(whole.labels[2]));
  WordProblemTask again({"A5", 162, 1000, 100, 7, 8});
  EXPECT_TRUE(again.range(Split::Train, 0, 8).inputs.equal(whole.inputs));
  EXPECT_FALSE(task.range(Split::Validation, 0, 8).inputs.equal(whole.inputs));
  WordProblemTask other_seed({"A5", 162, 1000, 100, 9, 8});
  EXPECT_FALSE(other_seed.range(Split::Train, 0, 8).inputs.equal(whole.inputs));
  // A longer task extends, never reshuffles, the actions of the same example.
  WordProblemTask longer({"A5", 200, 1000, 100, 7, 8});
  EXPECT_TRUE(longer.range(Split::Train, 0, 8).inputs.narrow(1, 0, 162).equal(whole.inputs));
}

TEST(WordProblemTask, ActionsAreUniformOverTheGroup) {
  WordProblemTask task({"S5", 100, 200, 10, 11, 12});
  auto counts = at::bincount(task.range(Split::Train, 0, 200).inputs.reshape({-1}), {}, 123).to(at::kDouble);
  auto c = counts.narrow(0, 3, 120);
  EXPECT_EQ(counts.narrow(0, 0, 3).sum().item<double>(), 0);
  const double expected = 200.0 * 100 / 120;
  const double chi2 = ((c - expected).pow(2) / expected).sum().item<double>();
  EXPECT_LT(chi2, 180);  // 119 degrees of freedom: p(chi2 > 180) < 3e-4
  EXPECT_GT(chi2, 70);   // too even to be random
}

TEST(WordProblemTask, BadOptionsAreErrors) {
  EXPECT_THROW(WordProblemTask({"S5", 1, 10, 10, 0, 1}), Error);
  EXPECT_THROW(WordProblemTask({"S5", 10, 10, 10, 3, 3}), Error);
  WordProblemTask task({"S3", 10, 4, 2, 0, 1});
  EXPECT_THROW(task.range(Split::Validation, 1, 2), Error);
  EXPECT_THROW(task.examples(Split::Train, {4}), Error);
}

}  // namespace
}  // namespace scanlab::tasks
