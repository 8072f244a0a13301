// Blelloch prefix scan for a possibly non-associative Agg (PSM paper §1.4, "ExclusiveBlelloch").
// Pads to a power of two with the formal identity; up-sweep T[r] = Agg(T[l], T[r]); down-sweep
// D[l] = p, D[r] = Agg(p, T[l]) with the parent prefix (older) on the left. Each tree level is one
// batched Agg call. The exclusive prefix i is the left fold, largest block first, of the balanced
// trees over the dyadic blocks of [0, i) -- exactly what the online binary counter produces.
//
// Work that cannot reach a requested output is skipped (the root, blocks not wholly inside the
// states, prefixes past the end), so for N >= 2 states:
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

// Up-sweep over xs padded to 2^levels: tree[r] = Agg(tree[l], tree[r]) level by level, one batched
// call each, for the blocks that lie wholly inside the states. A block that ends past the last state
// is never read (the down-sweep reads only left siblings, and those end before every requested
// output), so it is not aggregated: no Agg call builds an expression no prefix contains a part of.
// The top level writes only the root, which no prefix of these states uses, so it runs only
// `with_root` (a sequence-parallel block's root is what the ranks after it need). Returns the tree,
// 2^levels entries, empty where a block is not whole.
template <class S>
std::vector<Prefix<S>> blelloch_upsweep(const std::vector<S>& xs, int64_t levels, bool with_root,
                                        const BatchedAgg<S>& agg, AggCounter* counter = nullptr) {
  const int64_t n = static_cast<int64_t>(xs.size()), m = int64_t{1} << levels;
  SCANLAB_ASSERT(n <= m);
  std::vector<Prefix<S>> tree(m);
  for (int64_t i = 0; i < n; ++i) tree[i] = xs[i];
  for (int64_t d = 0; d + (with_root ? 0 : 1) < levels; ++d) {
    const int64_t half = int64_t{1} << d, stride = half * 2;
    std::vector<S> older, newer;
    std::vector<int64_t> dest;
    for (int64_t r = stride - 1; r < n; r += stride) {
      const int64_t l = r - half;
      older.push_back(*tree[l]);
      newer.push_back(*tree[r]);
      dest.push_back(r);
    }
    std::vector<S> out = call_batched(agg, older, newer, counter);
    for (size_t k = 0; k < dest.size(); ++k) tree[dest[k]] = std::move(out[k]);
  }
  return tree;
}

// Down-sweep from the root, whose prefix is `root_prefix` (the identity for a whole sequence; the
// aggregate of everything before this subtree for a sequence-parallel block): D[l] = p,
// D[r] = Agg(p, tree[l]) with the parent's prefix p on the left, so every output is the left fold
// of `root_prefix` and the dyadic blocks before it. Returns the exclusive prefixes D[0 .. need_end).
template <class S>
std::vector<Prefix<S>> blelloch_downsweep(const std::vector<Prefix<S>>& tree, int64_t levels, int64_t need_end,
                                          Prefix<S> root_prefix, const BatchedAgg<S>& agg,
                                          AggCounter* counter = nullptr) {
  const int64_t m = int64_t{1} << levels;
  SCANLAB_ASSERT(static_cast<int64_t>(tree.size()) == m && need_end <= m);
  std::vector<Prefix<S>> down(m);
  down[m - 1] = std::move(root_prefix);
  for (int64_t d = levels - 1; d >= 0; --d) {
    const int64_t half = int64_t{1} << d, stride = half * 2;
    std::vector<S> older, newer;
    std::vector<int64_t> dest;
    for (int64_t g = 0; g * stride < need_end; ++g) {
      const int64_t l = g * stride + half - 1, r = g * stride + stride - 1;
      Prefix<S> parent = down[r];
      down[l] = parent;
      if (g * stride + half >= need_end) continue;  // the right block holds no requested output
      SCANLAB_ASSERT(tree[l].has_value());          // its left sibling starts before need_end
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
  down.resize(need_end);
  return down;
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
  std::vector<Prefix<S>> down = blelloch_downsweep(blelloch_upsweep(xs, levels, /*with_root=*/false, agg, counter),
                                                   levels, need_end, Prefix<S>(), agg, counter);
  if (kind == ScanKind::Exclusive) return down;
  return std::vector<Prefix<S>>(down.begin() + 1, down.end());
}

}  // namespace scanlab::scan
