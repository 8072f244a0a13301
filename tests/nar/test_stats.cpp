// Trajectory statistics: efficiencies on a hand trajectory, lengths of registered algorithms.
#include <gtest/gtest.h>

#include "core/check.h"

#include "nar/algorithms/algorithms.h"
#include "nar/stats.h"

namespace scanlab::nar {
namespace {

TEST(NarStats, EfficiencyCountsChangedNodesAndPointerEdges) {
  // Hillis-Steele on 4 keys: step 1 changes acc and partner of nodes 1-3; step 2 changes acc of
  // nodes 2, 3 and the partner of node 1 (back to itself: it idles), so 3 of 4 nodes both times.
  const auto t = prefix_sum_hillis_steele({1, 1, 1, 1});
  ASSERT_EQ(t.length, 3);
  const auto e = trajectory_efficiency(t);
  EXPECT_EQ(e.steps, 2);
  EXPECT_DOUBLE_EQ(e.node, 3.0 / 4);
  // step 1: pointers 1->0, 2->1, 3->2 appear and self loops 1, 2, 3 vanish: 6 edges;
  // step 2: 1->0 back to 1->1, 2->1 to 2->0, 3->2 to 3->1: 6 edges.
  EXPECT_DOUBLE_EQ(e.edge, 6.0 / 16);
  EXPECT_EQ(trajectory_efficiency(parallel_rank_sort({0.2, 0.1})).steps, 0);
}

TEST(NarStats, LengthsFollowTheFormulas) {
  StatsOptions o;
  o.sizes = {16};
  o.count = 5;
  o.algorithms = {"bubble_sort", "odd_even_transposition_sort", "parallel_search"};
  const auto rows = compute_stats(o);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].length_max, 121);
  EXPECT_EQ(rows[1].length_max, 16);
  EXPECT_EQ(rows[2].length_max, 1);
  EXPECT_EQ(rows[2].with_steps, 0);
  EXPECT_GT(rows[1].node_efficiency, rows[0].node_efficiency);
  const auto text = format_stats(rows, o);
  EXPECT_NE(text.find("| bubble_sort | sort | sequential | 16 | 121.0 | 121 |"), std::string::npos) << text;
  o.sizes = {2};
  o.algorithms = {"parallel_scc"};
  EXPECT_THROW(compute_stats(o), Error);
}

}  // namespace
}  // namespace scanlab::nar
