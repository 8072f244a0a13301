// The scan engine's demonstration: a random non-associative Agg evaluated by the parallel Blelloch
// scan and by the online binary counter, with the numbers a reader wants to see side by side.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

namespace scanlab::scan {

struct DualityDemoOptions {
  int64_t chunks = 100;  // states in the sequence
  int64_t batch = 4;
  int64_t dim = 32;
  uint64_t seed = 0;
};

struct DualityDemoReport {
  int64_t chunks = 0;
  double max_abs_diff = 0;             // parallel vs online, over every prefix
  double max_abs_diff_reference = 0;   // parallel vs sequential reference
  int64_t parallel_calls = 0, parallel_pairs = 0;
  int64_t online_calls = 0;
  int64_t max_stored_states = 0, max_stored_bytes = 0;
  std::vector<int64_t> stored_states_after;  // per insert
};

DualityDemoReport run_duality_demo(const DualityDemoOptions& opts, at::Device device);
std::string format_duality_report(const DualityDemoReport& r);

}  // namespace scanlab::scan
