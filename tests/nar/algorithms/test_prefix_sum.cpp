// Prefix sums: all three algorithms against a long double reference on thousands of inputs (odd
// n included, where Blelloch pads at the front), with T = n, 1 + ceil(log2 n), 2 ceil(log2 n) + 2.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "nar/algorithms/algorithms.h"
#include "support/nar_test_util.h"

namespace scanlab::nar {
namespace {

int64_t ceil_log2(int64_t n) {
  int64_t l = 0;
  while ((int64_t{1} << l) < n) ++l;
  return l;
}

TEST(NarPrefixSum, ThreeAlgorithmsAgreeWithReference) {
  std::mt19937 g(13);
  std::uniform_real_distribution<double> u(0, 1);
  for (int trial = 0; trial < 2000; ++trial) {
    const int64_t n = 1 + trial % 70;
    std::vector<double> a(static_cast<size_t>(n));
    for (auto& x : a) x = u(g);
    std::vector<long double> ref(a.size());
    long double acc = 0;
    for (int64_t i = 0; i < n; ++i) ref[i] = acc += a[i];
    const auto fold = prefix_sum(a), hs = prefix_sum_hillis_steele(a), bl = prefix_sum_blelloch(a);
    EXPECT_EQ(fold.length, n);
    EXPECT_EQ(hs.length, 1 + ceil_log2(n));
    EXPECT_EQ(bl.length, 2 * ceil_log2(n) + 2);
    for (const auto* t : {&fold, &hs, &bl}) {
      const auto& out = t->get("prefix").value.data;
      for (int64_t i = 0; i < n; ++i)
        ASSERT_NEAR(out[i], static_cast<double>(ref[i]), 1e-12 * n) << t->algorithm << " n " << n << " i " << i;
    }
  }
}

TEST(NarPrefixSum, BlellochHintsOnFiveNodes) {
  // n = 5 pads to 8 with 3 virtual zeros in front: real node r is padded index r + 3.
  const auto t = prefix_sum_blelloch({1, 2, 3, 4, 5});
  ASSERT_EQ(t.length, 8);
  // After the up-sweep (step 3) the last node holds the total; step 4 clears it.
  EXPECT_EQ(testing::hint_at(t, "acc", 3)[4], 15.0);
  EXPECT_EQ(testing::hint_at(t, "acc", 4)[4], 0.0);
  EXPECT_EQ(testing::hint_at(t, "acc", 7), (std::vector<double>{0, 1, 3, 6, 10}));  // exclusive sums
  EXPECT_EQ(t.get("prefix").value.data, (std::vector<double>{1, 3, 6, 10, 15}));
}

}  // namespace
}  // namespace scanlab::nar
