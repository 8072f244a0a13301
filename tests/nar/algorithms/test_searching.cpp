// Searching: outputs against a brute-force scan, trajectory lengths against the formulas.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "nar/algorithms/algorithms.h"
#include "support/nar_test_util.h"

namespace scanlab::nar {
namespace {

using testing::argmax;
using testing::hint_at;

std::vector<double> sorted_uniform(std::mt19937& g, int64_t n) {
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<double> a(static_cast<size_t>(n));
  for (auto& x : a) x = u(g);
  std::sort(a.begin(), a.end());
  return a;
}

TEST(NarSearching, BinaryAndParallelSearchMatchBruteForce) {
  std::mt19937 g(7);
  std::uniform_real_distribution<double> u(0, 1);
  for (int trial = 0; trial < 3000; ++trial) {
    const int64_t n = 1 + trial % 70;
    const auto a = sorted_uniform(g, n);
    // Every third target is one of the keys, so equality is exercised.
    const double x = trial % 3 == 0 ? a[g() % n] : u(g);
    int64_t first_geq = 0, leq = 0;
    while (first_geq < n && a[first_geq] < x) ++first_geq;
    for (double k : a) leq += k <= x;

    const auto b = binary_search(a, x);
    EXPECT_EQ(argmax(b.get("return").value.data), std::min(first_geq, n - 1)) << "n " << n;
    // T between 1 + floor(log2 n) and 1 + ceil(log2 n)
    EXPECT_GE(b.length, 1 + static_cast<int64_t>(std::floor(std::log2(n))));
    EXPECT_LE(b.length, 1 + static_cast<int64_t>(std::ceil(std::log2(n))));
    if ((n & (n - 1)) == 0) EXPECT_EQ(b.length, 1 + static_cast<int64_t>(std::log2(n)));

    const auto p = parallel_search(a, x);
    EXPECT_EQ(p.length, 1);
    EXPECT_EQ(p.nodes, n + 1);
    EXPECT_EQ(p.get("return").value.data[0], static_cast<double>(leq));
    const auto hint = hint_at(p, "leq_target", 0);
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(hint[i], a[i] <= x ? 1.0 : 0.0);
    EXPECT_EQ(hint[n], 0.0);
    EXPECT_EQ(p.get("pos").value.data[n], 1.0);  // pos = i / n over n + 1 nodes
  }
}

TEST(NarSearching, BinarySearchHintsFollowTheLoop) {
  // A = [.1 .2 .3 .4 .5 .6 .7 .8], x = .65: (low, high) = (0, 7) -> (4, 7) -> (6, 7) -> (6, 6)
  const auto t = binary_search({.1, .2, .3, .4, .5, .6, .7, .8}, .65);
  ASSERT_EQ(t.length, 4);
  const int64_t low[] = {0, 4, 6, 6}, high[] = {7, 7, 7, 6};
  for (int s = 0; s < 4; ++s) {
    EXPECT_EQ(argmax(hint_at(t, "low", s)), low[s]);
    EXPECT_EQ(argmax(hint_at(t, "high", s)), high[s]);
    EXPECT_EQ(argmax(hint_at(t, "mid", s)), (low[s] + high[s]) / 2);
  }
  EXPECT_EQ(argmax(t.get("return").value.data), 6);  // first key >= x
  EXPECT_THROW(binary_search({.3, .1}, .2), Error);
}

TEST(NarSearching, MinimumMatchesMinElement) {
  std::mt19937 g(3);
  std::uniform_real_distribution<double> u(0, 1);
  for (int trial = 0; trial < 2000; ++trial) {
    const int64_t n = 1 + trial % 50;
    std::vector<double> a(static_cast<size_t>(n));
    for (auto& x : a) x = u(g);
    const auto t = minimum(a);
    EXPECT_EQ(t.length, n);
    EXPECT_EQ(argmax(t.get("min").value.data), std::min_element(a.begin(), a.end()) - a.begin());
  }
}

}  // namespace
}  // namespace scanlab::nar
