// Per-token latency bookkeeping for streaming generation: every step's wall time, whether the step
// closed a chunk (ran Agg), and the stream's state bytes after it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace scanlab::infer {

struct StepRecord {
  double ms = 0;
  bool aggregated = false;  // the step completed a chunk and ran Agg
  int64_t state_bytes = 0;
};

struct LatencySummary {
  int64_t steps = 0;
  double p50_ms = 0, p99_ms = 0, max_ms = 0, mean_ms = 0;
  int64_t agg_steps = 0;
  double agg_p50_ms = 0, agg_max_ms = 0;      // steps that ran Agg
  double plain_p50_ms = 0, plain_p99_ms = 0;  // steps that did not
  int64_t state_bytes_first = 0, state_bytes_last = 0, state_bytes_max = 0;
};

double percentile(std::vector<double> values, double q);  // q in [0, 1]; nearest-rank
LatencySummary summarize(const std::vector<StepRecord>& steps);
std::string format_summary(const LatencySummary& s);
// "index state_bytes" at up to `points` evenly spaced steps: the state's growth over time.
std::string format_state_bytes_series(const std::vector<StepRecord>& steps, int points);

}  // namespace scanlab::infer
