// Sequential reference evaluations, one Agg call at a time, for tests and benchmarks.
//   dyadic_*: the PSM bracketing (§1.4): prefix i = left fold, largest first, of the balanced trees
//             over the dyadic blocks in the binary decomposition of [0, i). Same expression as
//             blelloch_scan and OnlineScanner, evaluated without any batching.
//   left_fold_*: ((x0.x1).x2)... -- only meaningful for operators declared associative.
//   hillis_steele_inclusive: log-depth, O(N log N) work; any bracketing is fine for associative Agg.
#pragma once
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "core/check.h"
#include "scan/agg.h"

namespace scanlab::scan {

// All exclusive prefixes under the PSM bracketing. Dyadic block values are memoized, so this makes
// O(N) single-pair Agg calls.
template <class S>
std::vector<Prefix<S>> dyadic_exclusive_reference(const std::vector<S>& xs, const BatchedAgg<S>& agg,
                                                  AggCounter* counter = nullptr) {
  const int64_t n = static_cast<int64_t>(xs.size());
  SCANLAB_CHECK(n > 0, "prefix scan of an empty sequence: expected at least one state");
  std::map<std::pair<int64_t, int64_t>, S> block_memo;  // (start, length) -> balanced tree value
  std::function<S(int64_t, int64_t)> block = [&](int64_t start, int64_t len) -> S {
    if (len == 1) return xs[start];
    auto it = block_memo.find({start, len});
    if (it != block_memo.end()) return it->second;
    S v = call_single(agg, block(start, len / 2), block(start + len / 2, len / 2), counter);
    block_memo.emplace(std::make_pair(start, len), v);
    return v;
  };
  std::vector<Prefix<S>> out(n);
  for (int64_t i = 1; i < n; ++i) {
    Prefix<S> acc;
    int64_t start = 0;
    for (int64_t k = 62; k >= 0; --k) {
      const int64_t len = int64_t{1} << k;
      if (!(i & len)) continue;
      S b = block(start, len);
      acc = acc ? call_single(agg, *acc, b, counter) : b;
      start += len;
    }
    out[i] = std::move(acc);
  }
  return out;
}

// Inclusive left fold ((x0.x1).x2)... for associative operators.
template <class S>
std::vector<S> left_fold_inclusive(const std::vector<S>& xs, const BatchedAgg<S>& agg, AggCounter* counter = nullptr) {
  SCANLAB_CHECK(!xs.empty(), "prefix scan of an empty sequence: expected at least one state");
  std::vector<S> out{xs.front()};
  for (size_t i = 1; i < xs.size(); ++i) out.push_back(call_single(agg, out.back(), xs[i], counter));
  return out;
}

// Hillis-Steele inclusive scan: level k sets y[i] = Agg(y[i - 2^k], y[i]) for i >= 2^k, one batched
// call per level. Associative operators only.
template <class S>
std::vector<S> hillis_steele_inclusive(const std::vector<S>& xs, const BatchedAgg<S>& agg,
                                       AggCounter* counter = nullptr) {
  SCANLAB_CHECK(!xs.empty(), "prefix scan of an empty sequence: expected at least one state");
  std::vector<S> y = xs;
  const int64_t n = static_cast<int64_t>(xs.size());
  for (int64_t off = 1; off < n; off *= 2) {
    std::vector<S> older(y.begin(), y.end() - off), newer(y.begin() + off, y.end());
    std::vector<S> out = call_batched(agg, older, newer, counter);
    for (int64_t i = off; i < n; ++i) y[i] = std::move(out[i - off]);
  }
  return y;
}

}  // namespace scanlab::scan
