// The scan engine's demonstration: a random non-associative Agg evaluated by the parallel Blelloch
// scan and by the online binary counter, with the numbers a reader wants to see side by side.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

namespace scanlab::demos {

struct DualityDemoOptions {
  int64_t chunks = 100;  // states in the sequence
  int64_t batch = 4;
  int64_t dim = 32;
  uint64_t seed = 0;
};

struct DualityDemoReport {
  int64_t chunks = 0;
  double max_abs_diff = 0;            // parallel vs online, over every prefix
  double max_abs_diff_reference = 0;  // parallel vs sequential reference
  int64_t parallel_calls = 0, parallel_pairs = 0;
  int64_t online_calls = 0;
  int64_t max_stored_states = 0, max_stored_bytes = 0;
  std::vector<int64_t> stored_states_after;  // per insert
};

DualityDemoReport run_duality_demo(const DualityDemoOptions& opts, at::Device device);

// Refuses (core/memory.h), naming `what`, a scan over `chunks` states of [batch, dim] that `device`
// cannot hold: about four copies of the states (the inputs, the parallel prefixes, the reference's
// and the online scanner's) at `element_bytes` each, 512 bytes of bookkeeping a state tensor, and
// the Agg MLP (dim x 2 dim, twice). The demo and `bench scan` both run such scans.
void check_scan_fits(int64_t chunks, int64_t batch, int64_t dim, double element_bytes, at::Device device,
                     const std::string& what);
std::string format_duality_report(const DualityDemoReport& r);

}  // namespace scanlab::demos
