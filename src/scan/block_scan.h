// The exclusive Blelloch scan split into contiguous blocks, one per rank (sequence parallelism):
// the same Agg expressions as blelloch_scan over the whole sequence, so a non-associative Agg gives
// the same states. N states are cut into R blocks of B states, B the smallest power of two with
// R·B >= N; block r holds states [rB, min((r+1)B, N)) (the last blocks may be short or empty).
// B is a power of two and every block starts at a multiple of B, so each dyadic block of the PSM
// bracketing lies inside one block or is a union of whole blocks, and prefix i = rB + j is
//   Agg-fold(carry_r, dyadic blocks of [rB, i)),  carry_r = PSM prefix of the roots of blocks 0..r-1
// (a balanced tree of 2^k roots is the balanced tree of their 2^k·B states). Three steps:
//   1. local up-sweep (log2 B levels; the root only where a later block holds states, else without
//      the block's last state),
//   2. the roots exchanged; carry_r = blelloch_scan(roots of blocks 0..r-1, Inclusive).back(),
//      the top ⌈log2 R⌉ levels (every rank computes its own carry from the roots before it),
//   3. local down-sweep from carry_r.
#pragma once
#include <algorithm>
#include <cstdint>
#include <functional>
#include <vector>

#include "core/check.h"
#include "scan/blelloch.h"

namespace scanlab::scan {

struct BlockLayout {
  int64_t states = 0;     // N
  int64_t blocks = 1;     // R
  int64_t block_len = 1;  // B, a power of two
  int64_t first(int64_t r) const { return std::min(r * block_len, states); }
  int64_t count(int64_t r) const { return std::min((r + 1) * block_len, states) - first(r); }
  // A later block holds states, so it needs this (full) block's root.
  bool root_needed(int64_t r) const { return (r + 1) * block_len < states; }
};

inline BlockLayout block_layout(int64_t states, int64_t blocks) {
  SCANLAB_CHECK(states >= 1 && blocks >= 1, "block layout: expected at least one state and one block, got ", states,
                " states over ", blocks, " blocks");
  BlockLayout l{states, blocks, 1};
  while (l.block_len * blocks < states) l.block_len *= 2;
  return l;
}

// Step 1 on block r's states `xs` (layout.count(r) of them; none on an empty block).
template <class S>
struct BlockUpsweep {
  std::vector<Prefix<S>> tree;
  int64_t levels = 0, count = 0;
  Prefix<S> root;  // set where a later block needs it
};

template <class S>
BlockUpsweep<S> block_upsweep(const BlockLayout& layout, int64_t r, const std::vector<S>& xs, const BatchedAgg<S>& agg,
                              AggCounter* counter = nullptr) {
  BlockUpsweep<S> up;
  up.count = static_cast<int64_t>(xs.size());
  SCANLAB_CHECK(up.count == layout.count(r), "block ", r, " of ", layout.blocks, " holds ", layout.count(r),
                " states of ", layout.states, "; got ", up.count);
  if (up.count == 0) return up;
  const bool with_root = layout.root_needed(r);
  // A full block whose root is needed runs all log2 B levels over all its states. Otherwise only the
  // levels its prefixes use, without its last state, which none of them contains (as the
  // single-device forward leaves out the last chunk).
  up.levels = with_root ? ceil_log2(layout.block_len) : ceil_log2(up.count);
  up.tree = with_root ? blelloch_upsweep(xs, up.levels, true, agg, counter)
                      : blelloch_upsweep(std::vector<S>(xs.begin(), xs.end() - 1), up.levels, false, agg, counter);
  if (with_root) up.root = up.tree.back();
  return up;
}

// Step 2: the aggregate of every state before block r from the roots of blocks 0..r-1.
template <class S>
Prefix<S> block_carry(const std::vector<S>& roots_before, const BatchedAgg<S>& agg, AggCounter* counter = nullptr) {
  if (roots_before.empty()) return Prefix<S>();
  return blelloch_scan(roots_before, agg, ScanKind::Inclusive, counter).back();
}

// Step 3: the exclusive prefixes of the block's states (global order) from its carry.
template <class S>
std::vector<Prefix<S>> block_downsweep(const BlockUpsweep<S>& up, Prefix<S> carry, const BatchedAgg<S>& agg,
                                       AggCounter* counter = nullptr) {
  if (up.count == 0) return {};
  return blelloch_downsweep(up.tree, up.levels, up.count, std::move(carry), agg, counter);
}

// Steps 1-3 on rank r. `exchange` hands this rank's root (absent where no block needs it) to the
// other ranks and returns the roots of blocks 0..r-1; every rank calls it once, empty blocks too.
template <class S>
using RootExchange = std::function<std::vector<S>(const Prefix<S>& own_root)>;

template <class S>
std::vector<Prefix<S>> block_exclusive_scan(const BlockLayout& layout, int64_t r, const std::vector<S>& xs,
                                            const RootExchange<S>& exchange, const BatchedAgg<S>& agg,
                                            AggCounter* counter = nullptr) {
  BlockUpsweep<S> up = block_upsweep(layout, r, xs, agg, counter);
  const std::vector<S> roots = exchange(up.root);
  if (up.count == 0) return {};
  SCANLAB_ASSERT(static_cast<int64_t>(roots.size()) == r);  // every block before a non-empty one is full
  return block_downsweep(up, block_carry(roots, agg, counter), agg, counter);
}

}  // namespace scanlab::scan
