#include "infer/latency_stats.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace scanlab::infer {

double percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(values.size())));
  return values[std::min(values.size() - 1, rank == 0 ? 0 : rank - 1)];
}

LatencySummary summarize(const std::vector<StepRecord>& steps) {
  LatencySummary s;
  s.steps = static_cast<int64_t>(steps.size());
  if (steps.empty()) return s;
  std::vector<double> all, agg, plain;
  double total = 0;
  for (const auto& r : steps) {
    all.push_back(r.ms);
    (r.aggregated ? agg : plain).push_back(r.ms);
    total += r.ms;
    s.state_bytes_max = std::max(s.state_bytes_max, r.state_bytes);
  }
  s.p50_ms = percentile(all, 0.5);
  s.p99_ms = percentile(all, 0.99);
  s.max_ms = *std::max_element(all.begin(), all.end());
  s.mean_ms = total / static_cast<double>(all.size());
  s.agg_steps = static_cast<int64_t>(agg.size());
  s.agg_p50_ms = percentile(agg, 0.5);
  s.agg_max_ms = agg.empty() ? 0 : *std::max_element(agg.begin(), agg.end());
  s.plain_p50_ms = percentile(plain, 0.5);
  s.plain_p99_ms = percentile(plain, 0.99);
  s.state_bytes_first = steps.front().state_bytes;
  s.state_bytes_last = steps.back().state_bytes;
  return s;
}

std::string format_summary(const LatencySummary& s) {
  std::string out =
      fmt::format("per-token latency over {} steps: p50 {:.3f} ms, p99 {:.3f} ms, max {:.3f} ms, mean {:.3f} ms\n",
                  s.steps, s.p50_ms, s.p99_ms, s.max_ms, s.mean_ms);
  out += fmt::format("  steps without Agg: p50 {:.3f} ms, p99 {:.3f} ms\n", s.plain_p50_ms, s.plain_p99_ms);
  out += s.agg_steps ? fmt::format("  chunk-boundary steps (ran Agg): {} steps, p50 {:.3f} ms, max {:.3f} ms\n",
                                   s.agg_steps, s.agg_p50_ms, s.agg_max_ms)
                     : std::string("  chunk-boundary steps (ran Agg): none (this model has no Agg)\n");
  out += fmt::format("  state bytes: {} after the first step, {} after the last, max {}\n", s.state_bytes_first,
                     s.state_bytes_last, s.state_bytes_max);
  return out;
}

std::string format_state_bytes_series(const std::vector<StepRecord>& steps, int points) {
  std::string out = "step state_bytes\n";
  if (steps.empty() || points <= 0) return out;
  const size_t n = steps.size();
  const size_t stride = std::max<size_t>(1, n / static_cast<size_t>(points));
  for (size_t i = 0; i < n; i += stride) out += fmt::format("{} {}\n", i + 1, steps[i].state_bytes);
  if ((n - 1) % stride) out += fmt::format("{} {}\n", n, steps.back().state_bytes);
  return out;
}

}  // namespace scanlab::infer
