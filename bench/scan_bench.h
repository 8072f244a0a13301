// Scan engine benchmark: parallel Blelloch scan vs online binary counter vs sequential reference,
// all computing every prefix of N chunk states under the same non-associative MLP Agg.
#pragma once
#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace scanlab::bench {

struct ScanBenchOptions {
  std::vector<int64_t> lengths{16, 64, 256, 1024, 4096};
  int64_t batch = 8;
  int64_t dim = 64;
  int repeats = 3;            // median of this many timed runs, after one warm-up
  std::string format = "md";  // md | json
};

struct ScanBenchRow {
  int64_t n;
  double parallel_ms, online_ms, reference_ms;
  int64_t parallel_calls, online_calls, reference_calls;
};

std::vector<ScanBenchRow> run_scan_bench(const ScanBenchOptions& opts, at::Device device);
std::string format_scan_bench(const std::vector<ScanBenchRow>& rows, const ScanBenchOptions& opts,
                              const std::string& device_name);

}  // namespace scanlab::bench
