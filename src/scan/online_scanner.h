// Online binary counter (PSM paper, Alg. 2): the sequential twin of blelloch_scan. After m inserts it
// holds roots[k] = the balanced-tree value of the dyadic block of size 2^k (set iff bit k of m is 1)
// and fold[k] = left fold of the roots with index >= k, so the current prefix is one lookup.
// Invariants:
//   - prefix() after m inserts == blelloch_scan(...)[m] (exclusive) for any Agg, bit for bit in
//     the same expression tree;
//   - an insert costs (carries + 1) Agg calls, at most 2m calls over m inserts;
//   - at most 2*(floor(log2 m)+1) states are stored (the top fold is the top root itself).
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "core/check.h"
#include "scan/agg.h"

namespace scanlab::scan {

// Bytes held by a state; specialise for each state type used with OnlineScanner.
template <class S>
struct StateBytes;

template <class S>
class OnlineScanner {
 public:
  // What save/restore carries: enough to continue a stream exactly.
  struct Snapshot {
    int64_t count = 0;
    std::vector<Prefix<S>> roots;  // roots[k] set iff bit k of count is 1
    std::vector<Prefix<S>> folds;  // folds[k] set iff roots[k] is set and some root above k is set
  };

  explicit OnlineScanner(BatchedAgg<S> agg) : agg_(std::move(agg)) {}

  // Adds the state of a newly completed chunk.
  void insert(S x) {
    S cur = std::move(x);
    int64_t j = 0;
    for (; count_ & (int64_t{1} << j); ++j) {  // carry: older root on the left
      cur = call_single(agg_, *roots_[j], cur, &counter_);
      roots_[j].reset();
      folds_[j].reset();
    }
    if (static_cast<int64_t>(roots_.size()) <= j) {
      roots_.resize(j + 1);
      folds_.resize(j + 1);
    }
    roots_[j] = std::move(cur);
    folds_[j].reset();
    for (int64_t k = j + 1; k < static_cast<int64_t>(roots_.size()); ++k) {
      if (roots_[k]) {  // roots above j did not change, so their fold is still valid
        folds_[j] = call_single(agg_, fold_at(k), *roots_[j], &counter_);
        break;
      }
    }
    ++count_;
  }

  // Aggregate of every inserted state; std::nullopt (the identity) before the first insert.
  Prefix<S> prefix() const {
    for (int64_t k = 0; k < static_cast<int64_t>(roots_.size()); ++k)
      if (roots_[k]) return fold_at(k);
    return std::nullopt;
  }

  int64_t count() const { return count_; }
  const AggCounter& agg_counter() const { return counter_; }

  int64_t stored_states() const {
    int64_t n = 0;
    for (size_t k = 0; k < roots_.size(); ++k) n += (roots_[k] ? 1 : 0) + (folds_[k] ? 1 : 0);
    return n;
  }

  int64_t stored_bytes() const {
    int64_t bytes = 0;
    for (size_t k = 0; k < roots_.size(); ++k) {
      if (roots_[k]) bytes += StateBytes<S>::of(*roots_[k]);
      if (folds_[k]) bytes += StateBytes<S>::of(*folds_[k]);
    }
    return bytes;
  }

  Snapshot snapshot() const { return Snapshot{count_, roots_, folds_}; }

  void restore(Snapshot snap) {
    SCANLAB_CHECK(snap.count >= 0, "scanner snapshot: count ", snap.count, " is negative");
    SCANLAB_CHECK(snap.roots.size() == snap.folds.size(), "scanner snapshot: ", snap.roots.size(), " roots but ",
                  snap.folds.size(), " folds; expected one fold slot per root slot");
    int64_t top = -1;
    for (int64_t k = 0; k < static_cast<int64_t>(snap.roots.size()); ++k) {
      const bool bit = k < 63 && (snap.count & (int64_t{1} << k));
      SCANLAB_CHECK(bit == snap.roots[k].has_value(), "scanner snapshot: root ", k, bit ? " is missing" : " is present",
                    " but bit ", k, " of count ", snap.count, bit ? " is set" : " is clear");
      if (bit) top = k;
    }
    SCANLAB_CHECK((snap.count >> snap.roots.size()) == 0, "scanner snapshot: count ", snap.count,
                  " needs more than the ", snap.roots.size(), " root slots stored");
    for (int64_t k = 0; k < static_cast<int64_t>(snap.roots.size()); ++k) {
      const bool needs_fold = snap.roots[k].has_value() && k < top;
      SCANLAB_CHECK(needs_fold == snap.folds[k].has_value(), "scanner snapshot: fold ", k,
                    needs_fold ? " is missing" : " is unexpected");
    }
    count_ = snap.count;
    roots_ = std::move(snap.roots);
    folds_ = std::move(snap.folds);
  }

 private:
  // Left fold of the roots with index >= k (k must hold a root).
  const S& fold_at(int64_t k) const { return folds_[k] ? *folds_[k] : *roots_[k]; }

  BatchedAgg<S> agg_;
  int64_t count_ = 0;
  std::vector<Prefix<S>> roots_;
  std::vector<Prefix<S>> folds_;
  AggCounter counter_;
};

}  // namespace scanlab::scan
