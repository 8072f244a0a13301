// The online counter's state read off a parallel scan, so a prefill that has already run the
// Blelloch scan over a prompt's chunks need not run the counter over them again (each insert is an
// Agg call or more: about 2m calls for m chunks).
#pragma once
#include <cstdint>
#include <vector>

#include "core/check.h"
#include "scan/online_scanner.h"

namespace scanlab::scan {

// OnlineScanner's snapshot after m inserts, from `tree` and `down` of a Blelloch scan over at least
// those m states (blelloch_upsweep's in-place tree and blelloch_downsweep's exclusive prefixes, the
// latter reaching index m), with no Agg call:
//   - root k (bit k of m set) is the balanced tree over the dyadic block [s, s + 2^k), s = m with its
//     bits 0..k cleared; the in-place up-sweep leaves exactly that block at index s + 2^k - 1 (the
//     index's trailing ones stop the sweep at size 2^k);
//   - fold k (a root above k exists) is the left fold, largest block first, of the roots >= k: the
//     aggregate of [0, s + 2^k), which is the down-sweep's exclusive prefix at s + 2^k.
// Both are the expressions the counter builds (see blelloch.h's and online_scanner.h's invariants),
// so a scanner restored from this snapshot continues exactly as one that inserted the m states, up to
// the rounding of a batched Agg call against single ones.
template <class S>
typename OnlineScanner<S>::Snapshot counter_snapshot_from_scan(const std::vector<Prefix<S>>& tree,
                                                               const std::vector<Prefix<S>>& down, int64_t m) {
  SCANLAB_CHECK(m >= 0, "counter snapshot from a scan: ", m, " states; expected a count >= 0");
  typename OnlineScanner<S>::Snapshot snap;
  snap.count = m;
  size_t slots = 0;
  while ((m >> slots) != 0) ++slots;
  snap.roots.resize(slots);
  snap.folds.resize(slots);
  for (size_t k = 0; k < slots; ++k) {
    if (((m >> k) & 1) == 0) continue;
    const int64_t end = ((m >> (k + 1)) << (k + 1)) + (int64_t{1} << k);
    SCANLAB_CHECK(end <= static_cast<int64_t>(tree.size()) && tree[end - 1].has_value(),
                  "counter snapshot from a scan: the up-sweep holds no block [", end - (int64_t{1} << k), ", ", end,
                  "); expected a tree over at least ", m, " states");
    snap.roots[k] = tree[end - 1];
    if (k + 1 < slots) {  // the top set bit is slots - 1: every lower root has a root above it
      SCANLAB_CHECK(end < static_cast<int64_t>(down.size()) && down[end].has_value(),
                    "counter snapshot from a scan: no down-sweep prefix at ", end, "; expected prefixes up to ", m);
      snap.folds[k] = down[end];
    }
  }
  return snap;
}

}  // namespace scanlab::scan
