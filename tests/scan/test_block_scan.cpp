// The block (sequence-parallel) scan builds exactly the single-device Agg expressions: every prefix
// string, and the set of expressions the Agg calls of all ranks together build (within the single
// Transformer-PSM forward's, and containing every part of its outputs), for N = 1..67
// states over R = 2, 3, 4 and 8 blocks (short and empty last blocks included). The ranks run here
// one after another; tests/dist/test_seq_parallel.cpp runs the same functions over Gloo.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "scan/block_scan.h"
#include "support/symbolic_agg.h"

namespace scanlab::scan {
namespace {

// Every bracketed "(a.b)" inside `e`, `e` itself included: the Agg results it was built from.
std::set<std::string> subexpressions(const std::string& e) {
  std::set<std::string> out;
  std::vector<size_t> open;
  for (size_t i = 0; i < e.size(); ++i) {
    if (e[i] == '(') open.push_back(i);
    if (e[i] == ')') {
      out.insert(e.substr(open.back(), i - open.back() + 1));
      open.pop_back();
    }
  }
  return out;
}

TEST(BlockScanLayout, AlignedPowerOfTwoBlocksCoverTheStates) {
  const BlockLayout l = block_layout(67, 4);
  EXPECT_EQ(l.block_len, 32);
  EXPECT_EQ(l.count(0), 32);
  EXPECT_EQ(l.count(2), 3);
  EXPECT_EQ(l.count(3), 0);
  EXPECT_TRUE(l.root_needed(1));
  EXPECT_FALSE(l.root_needed(2));
  EXPECT_EQ(block_layout(1, 4).block_len, 1);
  EXPECT_EQ(block_layout(8, 4).block_len, 2);
  EXPECT_EQ(block_layout(9, 4).block_len, 4);
}

TEST(BlockScan, SameExpressionsAsTheSingleDeviceScan) {
  for (int64_t ranks : {2, 3, 4, 8}) {
    for (int64_t n = 1; n <= 67; ++n) {
      // The single-device Transformer-PSM forward: chunk i's prefix is the inclusive scan over
      // chunks 0..n-2 at i-1 (chunk 0 has none).
      Symbolic single;
      std::vector<Prefix<std::string>> want{Prefix<std::string>()};
      if (n >= 2) {
        const auto inclusive = blelloch_scan(symbols(n - 1), single.agg(), ScanKind::Inclusive);
        want.insert(want.end(), inclusive.begin(), inclusive.end());
        ASSERT_EQ(want, blelloch_scan(symbols(n), Symbolic().agg(), ScanKind::Exclusive));
      }
      const BlockLayout layout = block_layout(n, ranks);
      // What each rank's exchange returns: the roots of the blocks before it (a separate up-sweep,
      // so its Agg calls are not counted twice below).
      Symbolic helper;
      std::vector<std::string> roots;
      for (int64_t r = 0; r < ranks; ++r) {
        const auto up = block_upsweep(layout, r, symbols(layout.count(r), layout.first(r)), helper.agg());
        if (up.root) roots.push_back(*up.root);
      }
      Symbolic dist;
      std::set<std::string> made_by_ranks;
      for (int64_t r = 0; r < ranks; ++r) {
        dist.made.clear();
        const RootExchange<std::string> exchange = [&](const Prefix<std::string>& own) {
          EXPECT_EQ(own.has_value(), layout.root_needed(r)) << "N=" << n << " R=" << ranks << " rank " << r;
          if (own) {
            EXPECT_EQ(*own, roots.at(r));
          }
          return std::vector<std::string>(roots.begin(), roots.begin() + std::min<int64_t>(r, roots.size()));
        };
        AggCounter counter;
        const auto got =
            block_exclusive_scan(layout, r, symbols(layout.count(r), layout.first(r)), exchange, dist.agg(), &counter);
        // docs/distributed.md: up-sweep and down-sweep at most B-1 pairs each, the carry at most 2r.
        EXPECT_LE(counter.pairs, 2 * (layout.block_len - 1) + 2 * r) << "N=" << n << " R=" << ranks << " rank " << r;
        ASSERT_EQ(static_cast<int64_t>(got.size()), layout.count(r));
        for (int64_t j = 0; j < layout.count(r); ++j) {
          const int64_t i = layout.first(r) + j;
          ASSERT_EQ(got[j].has_value(), want[i].has_value()) << "N=" << n << " R=" << ranks << " i=" << i;
          if (want[i]) {
            EXPECT_EQ(*got[j], *want[i]) << "N=" << n << " R=" << ranks << " i=" << i;
          }
        }
        made_by_ranks.insert(dist.made.begin(), dist.made.end());
      }
      // The ranks build no expression the single-device forward does not, and every one its outputs
      // are made of.
      const std::set<std::string> made_single(single.made.begin(), single.made.end());
      for (const auto& e : made_by_ranks) EXPECT_TRUE(made_single.count(e)) << e << " N=" << n << " R=" << ranks;
      for (const auto& p : want) {
        if (!p) continue;
        for (const auto& e : subexpressions(*p))
          EXPECT_TRUE(made_by_ranks.count(e)) << e << " N=" << n << " R=" << ranks;
      }
    }
  }
}

}  // namespace
}  // namespace scanlab::scan
