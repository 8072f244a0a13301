// The aggregation interface of the scan engine (PSM paper §1.6). Agg(older, newer) -> state, with
// the older aggregate always on the left; it need not be associative. The identity e is formal:
// it is represented as std::nullopt and never passed to Agg.
//
// The engine is generic over the state type S. A parallel scan hands Agg a whole tree level at
// once: BatchedAgg receives the level's pairs as two equally long lists and returns one result per
// pair, in one call (for tensors: one network evaluation over the concatenated batch).
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace scanlab::scan {

template <class S>
using BatchedAgg = std::function<std::vector<S>(const std::vector<S>& older, const std::vector<S>& newer)>;

// A prefix value: std::nullopt is the formal identity (the aggregate of no states).
template <class S>
using Prefix = std::optional<S>;

// Counts what an evaluation cost: batched Agg calls (network launches) and pairs aggregated.
struct AggCounter {
  int64_t calls = 0;
  int64_t pairs = 0;
};

// Calls agg on the queued pairs (if any) in one batched call and counts it.
template <class S>
std::vector<S> call_batched(const BatchedAgg<S>& agg, const std::vector<S>& older, const std::vector<S>& newer,
                            AggCounter* counter) {
  if (older.empty()) return {};
  std::vector<S> out = agg(older, newer);
  if (out.size() != older.size())
    throw std::logic_error("Agg returned a different number of states than pairs it was given");
  if (counter) {
    counter->calls += 1;
    counter->pairs += static_cast<int64_t>(older.size());
  }
  return out;
}

// Agg on a single pair, through the batched interface.
template <class S>
S call_single(const BatchedAgg<S>& agg, const S& older, const S& newer, AggCounter* counter) {
  return call_batched<S>(agg, {older}, {newer}, counter).front();
}

}  // namespace scanlab::scan
