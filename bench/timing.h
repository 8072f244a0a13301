// Wall-clock timing for benchmarks: one warm-up, then the median of `repeats` runs. CUDA work is
// synchronised before each clock read so the figures are device time, not launch time.
#pragma once
#include <ATen/ATen.h>
#include <ATen/Context.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "core/device_sync.h"

namespace scanlab::bench {

template <class F>
double median_ms(int repeats, at::Device device, F&& fn) {
  fn();
  synchronize(device);
  std::vector<double> ms;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    synchronize(device);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
  return ms[ms.size() / 2];
}

// Per-call time of a short op: `inner` calls back to back (as a decode loop queues them), synchronised
// once, median over `repeats` such loops, divided by `inner`. Launch latency is hidden as it is in use.
template <class F>
double median_ms_per_call(int repeats, int inner, at::Device device, F&& fn) {
  return median_ms(repeats, device,
                   [&] {
                     for (int i = 0; i < inner; ++i) fn();
                   }) /
         inner;
}

}  // namespace scanlab::bench
