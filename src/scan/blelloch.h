// Blelloch prefix scan for a possibly non-associative Agg (PSM paper §1.4, "ExclusiveBlelloch").
// Pads to a power of two with the formal identity; up-sweep T[r] = Agg(T[l], T[r]); down-sweep
// D[l] = p, D[r] = Agg(p, T[l]) with the parent prefix (older) on the left. Each tree level is one
// batched Agg call. The exclusive prefix i is the left fold, largest block first, of the balanced
// trees over the dyadic blocks of [0, i) -- exactly what the online binary counter produces.
//
// Work that cannot reach a requested output is skipped (the root, blocks made only of padding,
// prefixes past the end), so for N >= 2 states:
//   exclusive: (L-1) + #{d <= L-2 : 3*2^d <  N} batched calls, L = ceil(log2 N)      (<= 2L-2)
//   inclusive: (L-1) + #{d <= L-2 : 3*2^d <= N} batched calls, L = ceil(log2 (N+1))
// and N = 1 makes no call.
#pragma once
#include <cstdint>
#include <vector>

#include "core/check.h"
#include "scan/agg.h"

namespace scanlab::scan {

enum class ScanKind { Exclusive, Inclusive };

inline int64_t ceil_log2(int64_t n) {
  int64_t l = 0;
  while ((int64_t{1} << l) < n) ++l;
  return l;
}

// The number of batched Agg calls blelloch_scan makes (see the file comment).
inline int64_t blelloch_batched_calls(int64_t n, ScanKind kind) {
  if (n <= 1) return 0;
  const int64_t levels = ceil_log2(kind == ScanKind::Exclusive ? n : n + 1);
  int64_t calls = levels - 1;
  for (int64_t d = 0; d <= levels - 2; ++d) {
    const int64_t start = 3 * (int64_t{1} << d);
    if (kind == ScanKind::Exclusive ? start < n : start <= n) ++calls;
  }
  return calls;
}

// Exclusive: out[i] = aggregate of xs[0..i-1] (out[0] is the identity).
// Inclusive: out[i] = aggregate of xs[0..i], bracketed as the exclusive prefix i+1 of a longer
// sequence would be (so the online scanner's prefix after i+1 inserts equals it).
template <class S>
std::vector<Prefix<S>> blelloch_scan(const std::vector<S>& xs, const BatchedAgg<S>& agg, ScanKind kind,
                                     AggCounter* counter = nullptr) {
  const int64_t n = static_cast<int64_t>(xs.size());
  SCANLAB_CHECK(n > 0, "prefix scan of an empty sequence: expected at least one state");
  // Outputs needed are D[0 .. need_end-1]; inclusive also needs D[n], the prefix of everything.
  const int64_t need_end = kind == ScanKind::Exclusive ? n : n + 1;
  const int64_t levels = ceil_log2(need_end);
  const int64_t m = int64_t{1} << levels;

  std::vector<Prefix<S>> tree(m);
  for (int64_t i = 0; i < n; ++i) tree[i] = xs[i];

  // Up-sweep, levels 0 .. L-2 (level L-1 only writes the root, which no prefix uses).
  for (int64_t d = 0; d + 1 < levels; ++d) {
    const int64_t half = int64_t{1} << d, stride = half * 2;
    std::vector<S> older, newer;
    std::vector<int64_t> dest;
    for (int64_t g = 0; g * stride < n; ++g) {
      const int64_t l = g * stride + half - 1, r = g * stride + stride - 1;
      if (tree[l] && tree[r]) {
        older.push_back(*tree[l]);
        newer.push_back(*tree[r]);
        dest.push_back(r);
      } else if (tree[l]) {
        tree[r] = tree[l];  // Agg(x, e) = x
      }
    }
    std::vector<S> out = call_batched(agg, older, newer, counter);
    for (size_t k = 0; k < dest.size(); ++k) tree[dest[k]] = std::move(out[k]);
  }

  // Down-sweep from the root (prefix e) to the leaves.
  std::vector<Prefix<S>> down(m);
  for (int64_t d = levels - 1; d >= 0; --d) {
    const int64_t half = int64_t{1} << d, stride = half * 2;
    std::vector<S> older, newer;
    std::vector<int64_t> dest;
    for (int64_t g = 0; g * stride < need_end; ++g) {
      const int64_t l = g * stride + half - 1, r = g * stride + stride - 1;
      Prefix<S> parent = down[r];
      down[l] = parent;
      if (g * stride + half >= need_end) continue;  // the right block holds no requested output
      SCANLAB_ASSERT(tree[l].has_value());         // its left sibling starts before n
      if (!parent) {
        down[r] = tree[l];  // Agg(e, y) = y
      } else {
        older.push_back(*parent);
        newer.push_back(*tree[l]);
        dest.push_back(r);
      }
    }
    std::vector<S> out = call_batched(agg, older, newer, counter);
    for (size_t k = 0; k < dest.size(); ++k) down[dest[k]] = std::move(out[k]);
  }

  if (kind == ScanKind::Exclusive) return std::vector<Prefix<S>>(down.begin(), down.begin() + n);
  return std::vector<Prefix<S>>(down.begin() + 1, down.begin() + n + 1);
}

}  // namespace scanlab::scan
