// Sorting: every algorithm's output order equals std::stable_sort's on thousands of inputs (ties
// included for the comparison sorts), and trajectory lengths match the formulas.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "nar/algorithms/algorithms.h"
#include "support/nar_test_util.h"

namespace scanlab::nar {
namespace {

using testing::hint_at;
using testing::order_from_pred;

std::vector<int64_t> stable_order(const std::vector<double>& a) {
  std::vector<int64_t> idx(a.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int64_t x, int64_t y) { return a[x] < a[y]; });
  return idx;
}

std::vector<double> random_keys(std::mt19937& g, int64_t n, bool ties) {
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<double> a(static_cast<size_t>(n));
  for (auto& x : a) x = ties ? static_cast<double>(g() % 4) : u(g);
  return a;
}

TEST(NarSorting, OutputsMatchStableSort) {
  std::mt19937 g(11);
  for (int trial = 0; trial < 2000; ++trial) {
    const int64_t n = 1 + trial % 24;
    const bool ties = trial % 2 == 1;
    const auto a = random_keys(g, n, ties);
    const auto expected = stable_order(a);
    const auto ins = insertion_sort(a), bub = bubble_sort(a);
    const auto oets = odd_even_transposition_sort(a, SwapIndexing::Position);
    const auto oets_node = odd_even_transposition_sort(a, SwapIndexing::Node);
    EXPECT_EQ(order_from_pred(ins.get("pred").value.data), expected);
    EXPECT_EQ(order_from_pred(bub.get("pred").value.data), expected);
    EXPECT_EQ(order_from_pred(oets.get("pred").value.data), expected);
    EXPECT_EQ(order_from_pred(oets_node.get("pred").value.data), expected);
    EXPECT_EQ(ins.length, n);
    EXPECT_EQ(bub.length, 1 + n * (n - 1) / 2);
    EXPECT_EQ(oets.length, 2 * ((n + 1) / 2));
    if (!ties) {
      const auto rank = parallel_rank_sort(a);
      EXPECT_EQ(rank.length, 1);
      const auto& r = rank.get("rank").value.data;
      for (int64_t k = 0; k < n; ++k) EXPECT_EQ(r[expected[k]], static_cast<double>(k));
    }
  }
}

TEST(NarSorting, OddEvenWorkedExample) {
  // Engelmayer et al. 2023: A = [0.9, 0.1, 0.5, 0.3]
  const auto t = odd_even_transposition_sort({0.9, 0.1, 0.5, 0.3}, SwapIndexing::Position);
  ASSERT_EQ(t.length, 4);
  const std::vector<std::vector<double>> pred_h{{0, 0, 1, 2}, {0, 0, 1, 2}, {1, 1, 3, 0}, {3, 1, 0, 1}};
  const double rounds[] = {1, 0, 1, 0};
  for (int s = 0; s < 4; ++s) {
    EXPECT_EQ(hint_at(t, "pred_h", s), pred_h[s]) << "step " << s;
    EXPECT_EQ(hint_at(t, "round", s)[0], rounds[s]);
  }
  EXPECT_EQ(t.get("pred").value.data, (std::vector<double>{2, 1, 3, 1}));
  // Step 2 swaps positions (1, 2), which hold nodes 0 and 3 at that time.
  const auto by_pos = hint_at(t, "permutation", 2);
  EXPECT_EQ(by_pos[1 * 4 + 2], 1.0);
  EXPECT_EQ(by_pos[1 * 4 + 1], 0.0);
  const auto by_node = hint_at(odd_even_transposition_sort({0.9, 0.1, 0.5, 0.3}, SwapIndexing::Node), "permutation", 2);
  EXPECT_EQ(by_node[0 * 4 + 3], 1.0);
  EXPECT_EQ(by_node[3 * 4 + 0], 1.0);
  EXPECT_EQ(by_node[1 * 4 + 2], 0.0);
  EXPECT_EQ(by_node[1 * 4 + 1], 1.0);
}

TEST(NarSorting, BubbleSortMarksTheComparedNodes) {
  // [0.3, 0.2, 0.1]: j runs 2, 1 for i = 0, then 2 for i = 1
  const auto t = bubble_sort({0.3, 0.2, 0.1});
  ASSERT_EQ(t.length, 4);
  EXPECT_EQ(hint_at(t, "pred_h", 1), (std::vector<double>{0, 2, 0}));  // swap positions 1, 2: order 0 2 1
  EXPECT_EQ(testing::argmax(hint_at(t, "j", 1)), 1);                   // node now at position 2
  EXPECT_EQ(order_from_pred(t.get("pred").value.data), (std::vector<int64_t>{2, 1, 0}));
}

}  // namespace
}  // namespace scanlab::nar
