// Datasets: draw inputs with an algorithm's sampler, run the algorithm, apply the CLRS stream
// transforms (CLRS): random positions, pred-as-input, permutation encoding. The CLRS30
// splits are train 1000 at n = 16 (seed 1), val 32 * multiplier at n = 16 (seed 2) and test
// 32 * multiplier at n = 64 (seed 3).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "nar/probes.h"
#include "nar/samplers/random_state.h"

namespace scanlab::nar {

struct DatasetOptions {
  std::string algorithm;
  int64_t nodes = 16;
  int64_t count = 1;
  uint32_t seed = 0;
  bool random_pos = false;            // replace `pos` by sorted U[0, 1] draws
  bool pred_as_input = false;         // constant `pred_h` hint -> input `pred` (flagged algorithms only)
  bool enforce_permutations = false;  // should_be_permutation -> permutation_pointer + `<name>_mask`
};

// "train", "val" or "test" of CLRS30 for `algorithm`; throws naming the split otherwise.
DatasetOptions clrs30_split(const std::string& algorithm, const std::string& split);

// `count` trajectories: the inputs come from RandomState(seed) in order, then (random_pos) the
// positions of every sample are drawn from the same stream, so transforms never change inputs.
std::vector<Trajectory> sample_dataset(const DatasetOptions& opts);
// The same samples handed out one at a time, without keeping them (for statistics).
void for_each_sample(const DatasetOptions& opts, const std::function<void(const Trajectory&)>& visit);

// The transforms, each on one trajectory.
void apply_random_pos(Trajectory& t, RandomState& rng);
void apply_pred_as_input(Trajectory& t);
void apply_permutations(Trajectory& t);

}  // namespace scanlab::nar
