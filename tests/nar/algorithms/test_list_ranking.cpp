// List ranking: walk and pointer jumping give every node its distance from the head, with
// T = n and 1 + ceil(log2(n - 1)); malformed lists are rejected.
#include <gtest/gtest.h>

#include "core/check.h"
#include "nar/algorithms/algorithms.h"
#include "nar/samplers/samplers.h"

namespace scanlab::nar {
namespace {

TEST(NarListRanking, BothAlgorithmsGiveDistanceFromHead) {
  RandomState rng(17);
  for (int trial = 0; trial < 2000; ++trial) {
    const int64_t n = 1 + trial % 80;
    const auto s = sample_linked_list(rng, n);
    std::vector<double> expected(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {  // brute force: count hops to the head
      int64_t hops = 0;
      for (int64_t v = i; s.pred[v] != v; v = s.pred[v]) ++hops;
      expected[i] = static_cast<double>(hops);
    }
    const auto walk = list_ranking(s.pred), jump = parallel_list_ranking(s.pred);
    EXPECT_EQ(walk.get("rank").value.data, expected);
    EXPECT_EQ(jump.get("rank").value.data, expected);
    EXPECT_EQ(walk.length, n);
    int64_t rounds = 0;
    while ((int64_t{1} << rounds) < n - 1) ++rounds;
    EXPECT_EQ(jump.length, 1 + rounds) << "n " << n;
  }
}

TEST(NarListRanking, RejectsNonLists) {
  EXPECT_THROW(list_ranking({0, 1}), Error);              // two heads
  EXPECT_THROW(list_ranking({1, 2, 0}), Error);           // a cycle, no head
  EXPECT_THROW(parallel_list_ranking({0, 0, 0}), Error);  // node 0 has two successors
  EXPECT_THROW(list_ranking({0, 5}), Error);              // not a node
}

}  // namespace
}  // namespace scanlab::nar
