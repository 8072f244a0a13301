// The scan engine's parenthesisation, call counts and numerics. Each test fails if the engine's
// bracketing, argument order, batching or identity handling is wrong.
#include <gtest/gtest.h>

#include <string>

#include "scan/blelloch.h"
#include "scan/counter_from_scan.h"
#include "scan/online_scanner.h"
#include "scan/reference.h"
#include "support/symbolic_agg.h"

namespace scanlab::scan {

namespace {

// Written independently of the engine: the balanced tree of a block, and the left fold of the
// dyadic blocks of [0, i), largest first (PSM paper §1.4).
std::string balanced(int64_t start, int64_t len) {
  if (len == 1) return "x" + std::to_string(start);
  return "(" + balanced(start, len / 2) + "." + balanced(start + len / 2, len / 2) + ")";
}
std::string expected_prefix(int64_t i) {
  std::string acc;
  int64_t start = 0;
  for (int bit = 20; bit >= 0; --bit) {
    const int64_t len = int64_t{1} << bit;
    if (!(i & len)) continue;
    acc = acc.empty() ? balanced(start, len) : "(" + acc + "." + balanced(start, len) + ")";
    start += len;
  }
  return acc;
}

TEST(SymbolicScan, PaperExampleForPrefixSeven) {
  EXPECT_EQ(expected_prefix(7), "((((x0.x1).(x2.x3)).(x4.x5)).x6)");
  Symbolic s;
  auto out = blelloch_scan(symbols(8), s.agg(), ScanKind::Exclusive);
  EXPECT_EQ(*out[7], "((((x0.x1).(x2.x3)).(x4.x5)).x6)");
  EXPECT_EQ(*out[4], "((x0.x1).(x2.x3))");
}

TEST(SymbolicScan, EveryPrefixOfEveryLengthMatchesTheBinaryDecomposition) {
  for (int64_t n = 1; n <= 40; ++n) {
    Symbolic s;
    auto exclusive = blelloch_scan(symbols(n), s.agg(), ScanKind::Exclusive);
    auto inclusive = blelloch_scan(symbols(n), s.agg(), ScanKind::Inclusive);
    auto reference = dyadic_exclusive_reference(symbols(n), s.agg());
    ASSERT_EQ(exclusive.size(), static_cast<size_t>(n));
    ASSERT_EQ(inclusive.size(), static_cast<size_t>(n));
    EXPECT_FALSE(exclusive[0].has_value()) << "prefix 0 must be the formal identity, N=" << n;
    OnlineScanner<std::string> online(s.agg());
    EXPECT_FALSE(online.prefix().has_value());
    for (int64_t i = 0; i < n; ++i) {
      if (i > 0) {
        EXPECT_EQ(*exclusive[i], expected_prefix(i)) << "exclusive N=" << n << " i=" << i;
        EXPECT_EQ(*reference[i], expected_prefix(i)) << "reference N=" << n << " i=" << i;
      }
      EXPECT_EQ(*inclusive[i], expected_prefix(i + 1)) << "inclusive N=" << n << " i=" << i;
      online.insert("x" + std::to_string(i));
      EXPECT_EQ(*online.prefix(), expected_prefix(i + 1)) << "online after " << i + 1 << " inserts";
    }
  }
}

TEST(ScanCallCounts, ParallelMakesTheDocumentedNumberOfBatchedCalls) {
  for (int64_t n = 1; n <= 300; ++n) {
    for (ScanKind kind : {ScanKind::Exclusive, ScanKind::Inclusive}) {
      Symbolic s;
      AggCounter counter;
      blelloch_scan(symbols(n), s.agg(), kind, &counter);
      EXPECT_EQ(counter.calls, s.calls);
      EXPECT_EQ(counter.calls, blelloch_batched_calls(n, kind)) << "N=" << n;
      // Log depth: never more than two calls per tree level.
      EXPECT_LE(counter.calls, 2 * ceil_log2(n + 1)) << "N=" << n;
      // O(N) work: each pair is one Agg application.
      EXPECT_LE(counter.pairs, 2 * n) << "N=" << n;
    }
  }
  EXPECT_EQ(blelloch_batched_calls(1, ScanKind::Exclusive), 0);
  EXPECT_EQ(blelloch_batched_calls(2, ScanKind::Exclusive), 0);  // [e, x0]
  EXPECT_EQ(blelloch_batched_calls(8, ScanKind::Exclusive), 4);  // 2*log2(8) - 2
  EXPECT_EQ(blelloch_batched_calls(4096, ScanKind::Exclusive), 22);
}

TEST(ScanCallCounts, OnlineIsAmortisedConstantWithLogarithmicMemory) {
  Symbolic s;
  OnlineScanner<std::string> online(s.agg());
  int64_t previous_calls = 0;
  for (int64_t m = 1; m <= 1100; ++m) {
    const int64_t carries = __builtin_ctzll(~static_cast<uint64_t>(m - 1));  // trailing ones of m-1
    online.insert("x");
    const int64_t calls = online.agg_counter().calls - previous_calls;
    previous_calls = online.agg_counter().calls;
    const bool has_higher_root = ((m - 1) >> (carries + 1)) != 0;
    EXPECT_EQ(calls, carries + (has_higher_root ? 1 : 0)) << "insert " << m;
    EXPECT_LE(online.agg_counter().calls, 2 * m) << "after " << m << " inserts";
    const int64_t floor_log2 = 63 - __builtin_clzll(static_cast<uint64_t>(m));
    EXPECT_LE(online.stored_states(), 2 * (floor_log2 + 1)) << "after " << m << " inserts";
    EXPECT_EQ(online.stored_states(), 2 * __builtin_popcountll(m) - 1) << "after " << m << " inserts";
  }
}

// A prefill reads the counter's state off the scan it already ran (scan/counter_from_scan.h): the
// snapshot holds the very expressions m inserts build, costs no Agg call, and a scanner restored from
// it continues as the inserting one does.
TEST(SymbolicScan, CounterStateReadOffTheScanEqualsTheInsertedOne) {
  for (int64_t m = 0; m <= 40; ++m) {
    Symbolic s;
    OnlineScanner<std::string> inserted(s.agg());
    for (int64_t i = 0; i < m; ++i) inserted.insert("x" + std::to_string(i));
    std::vector<Prefix<std::string>> tree, down;
    if (m > 0) {  // the scan a prefill of m + 1 chunks runs: inclusive over the first m
      const int64_t levels = ceil_log2(m + 1);
      tree = blelloch_upsweep(symbols(m), levels, /*with_root=*/false, s.agg());
      down = blelloch_downsweep(tree, levels, m + 1, Prefix<std::string>(), s.agg());
    }
    const int64_t calls = s.calls;
    OnlineScanner<std::string> restored(s.agg());
    restored.restore(counter_snapshot_from_scan(tree, down, m));
    EXPECT_EQ(s.calls, calls) << "building the snapshot must not call Agg, m=" << m;
    const auto a = inserted.snapshot(), b = restored.snapshot();
    ASSERT_EQ(a.roots.size(), b.roots.size()) << "m=" << m;
    for (size_t k = 0; k < a.roots.size(); ++k) {
      EXPECT_EQ(a.roots[k], b.roots[k]) << "root " << k << ", m=" << m;
      EXPECT_EQ(a.folds[k], b.folds[k]) << "fold " << k << ", m=" << m;
    }
    for (int64_t i = m; i < m + 9; ++i) {
      inserted.insert("x" + std::to_string(i));
      restored.insert("x" + std::to_string(i));
      EXPECT_EQ(*restored.prefix(), *inserted.prefix()) << "after " << i + 1 << " inserts, restored at m=" << m;
      EXPECT_EQ(*restored.prefix(), expected_prefix(i + 1));
    }
  }
}

TEST(ScanErrors, ACounterSnapshotFromTooShortAScanIsAClearError) {
  Symbolic s;
  auto tree = blelloch_upsweep(symbols(3), 2, /*with_root=*/false, s.agg());
  auto down = blelloch_downsweep(tree, 2, 4, Prefix<std::string>(), s.agg());
  EXPECT_THROW(counter_snapshot_from_scan(tree, down, 5), Error);
  EXPECT_THROW(counter_snapshot_from_scan(tree, down, -1), Error);
}

TEST(ScanCallCounts, OnlinePrefixNeverCallsAgg) {
  Symbolic s;
  OnlineScanner<std::string> online(s.agg());
  for (int i = 0; i < 13; ++i) online.insert("x");
  const int64_t before = s.calls;
  for (int i = 0; i < 5; ++i) (void)online.prefix();
  EXPECT_EQ(s.calls, before);
}

TEST(AssociativeScans, HillisSteeleLeftFoldAndBlellochAgreeForMatrixProducts) {
  // 2x2 matrices under multiplication (associative, not commutative), as flat 4-vectors.
  using M = std::array<double, 4>;
  BatchedAgg<M> mul = [](const std::vector<M>& a, const std::vector<M>& b) {
    std::vector<M> out;
    for (size_t i = 0; i < a.size(); ++i)
      out.push_back({a[i][0] * b[i][0] + a[i][1] * b[i][2], a[i][0] * b[i][1] + a[i][1] * b[i][3],
                     a[i][2] * b[i][0] + a[i][3] * b[i][2], a[i][2] * b[i][1] + a[i][3] * b[i][3]});
    return out;
  };
  std::vector<M> xs;
  uint64_t state = 12345;
  auto rnd = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return ((state >> 11) * 0x1.0p-53) - 0.5;
  };
  for (int i = 0; i < 45; ++i) xs.push_back({1 + rnd(), rnd(), rnd(), 1 + rnd()});
  auto fold = left_fold_inclusive(xs, mul);
  auto hs = hillis_steele_inclusive(xs, mul);
  auto bl = blelloch_scan(xs, mul, ScanKind::Inclusive);
  for (size_t i = 0; i < xs.size(); ++i)
    for (int k = 0; k < 4; ++k) {
      EXPECT_NEAR(hs[i][k], fold[i][k], 1e-9 * (1 + std::abs(fold[i][k]))) << i;
      EXPECT_NEAR((*bl[i])[k], fold[i][k], 1e-9 * (1 + std::abs(fold[i][k]))) << i;
    }
  // Non-commutative: swapping the argument order must change the result.
  auto swapped = [&](const std::vector<M>& a, const std::vector<M>& b) { return mul(b, a); };
  auto wrong = left_fold_inclusive(xs, BatchedAgg<M>(swapped));
  EXPECT_GT(std::abs(wrong.back()[1] - fold.back()[1]), 1e-6);
}

TEST(ScanErrors, EmptySequenceIsAClearError) {
  Symbolic s;
  try {
    blelloch_scan(std::vector<std::string>{}, s.agg(), ScanKind::Exclusive);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("empty sequence"), std::string::npos) << e.what();
  }
  EXPECT_THROW(dyadic_exclusive_reference(std::vector<std::string>{}, s.agg()), Error);
  EXPECT_THROW(hillis_steele_inclusive(std::vector<std::string>{}, s.agg()), Error);
}

}  // namespace
}  // namespace scanlab::scan
