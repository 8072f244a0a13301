// Tensor states for the scan engine. A state is a small tuple of tensors, each with a leading batch
// dimension B (a T-PSM chunk state is one [B, C, D] tensor; an affine state is (E, f)). A TensorAgg
// works on batches: given P pairs it sees the P states concatenated along dim 0 ([P*B, ...]) and
// returns [P*B, ...], so one tree level is one network evaluation.
#pragma once
#include <ATen/ATen.h>

#include <map>
#include <string>
#include <vector>

#include "scan/agg.h"
#include "scan/blelloch.h"
#include "scan/online_scanner.h"

namespace scanlab::scan {

using TensorState = std::vector<at::Tensor>;
using TensorAgg = std::function<TensorState(const TensorState& older, const TensorState& newer)>;

template <>
struct StateBytes<TensorState> {
  static int64_t of(const TensorState& s) {
    int64_t b = 0;
    for (const auto& t : s) b += static_cast<int64_t>(t.numel()) * static_cast<int64_t>(t.element_size());
    return b;
  }
};

// Throws scanlab::Error unless `state` has the same number of components, shapes, dtypes and
// devices as `like`; `what` names the state in the message (e.g. "state 3").
void check_state_matches(const TensorState& like, const TensorState& state, const std::string& what);

// Checks every state of a sequence against the first one (non-empty, defined, batch dim present).
void check_state_sequence(const std::vector<TensorState>& xs);

// Adapts a TensorAgg to the engine's batched interface (concatenate the pairs, one call, split).
BatchedAgg<TensorState> batch_tensor_agg(TensorAgg agg);

// Parallel scan over tensor states with input validation. Autograd flows through it.
std::vector<Prefix<TensorState>> tensor_blelloch_scan(const std::vector<TensorState>& xs, const TensorAgg& agg,
                                                      ScanKind kind, AggCounter* counter = nullptr);

// OnlineScanner over tensor states that validates every insert against the first state and saves
// to / restores from named tensors (written to disk by the io layer, e.g. as safetensors).
class TensorOnlineScanner {
 public:
  explicit TensorOnlineScanner(TensorAgg agg) : scanner_(batch_tensor_agg(std::move(agg))) {}
  void insert(TensorState x);
  Prefix<TensorState> prefix() const { return scanner_.prefix(); }
  int64_t count() const { return scanner_.count(); }
  int64_t stored_states() const { return scanner_.stored_states(); }
  int64_t stored_bytes() const { return scanner_.stored_bytes(); }
  const AggCounter& agg_counter() const { return scanner_.agg_counter(); }

  // Names: "<prefix>count" (int64 [1]), "<prefix>root.<k>.<i>", "<prefix>fold.<k>.<i>".
  std::map<std::string, at::Tensor> save(const std::string& prefix = "scanner.") const;
  void restore(const std::map<std::string, at::Tensor>& tensors, const std::string& prefix = "scanner.");
  // Restores a snapshot built in memory (e.g. counter_snapshot_from_scan); its states must agree in
  // shapes, dtypes and devices.
  void restore_snapshot(OnlineScanner<TensorState>::Snapshot snap);

 private:
  OnlineScanner<TensorState> scanner_;
  TensorState like_;  // empty until the first insert
};

}  // namespace scanlab::scan
