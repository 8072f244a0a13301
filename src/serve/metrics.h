// Server counters for GET /metrics (Prometheus text format 0.0.4). Memory is bounded: per-token
// latency keeps the last kLatencyWindow samples in a ring (p50/p99 over that window, sum and count
// over all time), tokens/s counts tokens in one-second buckets over the last kRateSeconds.
// Thread-safe: HTTP handlers and the scheduler record, a scrape reads.
#pragma once
#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace scanlab::serve {

struct Gauges {
  int64_t live_streams = 0;
  int64_t queued_requests = 0;
  int64_t live_state_bytes = 0;     // streams generating now
  int64_t session_state_bytes = 0;  // idle sessions kept in memory
  int64_t sessions_in_memory = 0;
  int64_t sessions_on_disk = 0;
  int64_t session_evictions = 0;  // all time
};

class Metrics {
 public:
  static constexpr size_t kLatencyWindow = 4096;
  static constexpr int64_t kRateSeconds = 10;

  Metrics();
  void request_done(int status);  // one finished request, by HTTP status
  void token(double latency_ms);  // one generated token and the time since the request's previous one
  void set_gauges(const Gauges& g);
  double latency_quantile(double q) const;  // over the window; 0 when empty
  double tokens_per_second() const;         // over the last kRateSeconds (or the uptime, if shorter)
  int64_t tokens_total() const;
  int64_t requests_total() const;
  std::string prometheus() const;

 private:
  using Clock = std::chrono::steady_clock;
  double quantile_locked(double q) const;
  double rate_locked() const;

  mutable std::mutex mu_;
  Clock::time_point start_;
  std::map<int, int64_t> requests_;  // by status
  int64_t tokens_ = 0;
  std::array<double, kLatencyWindow> latency_{};
  size_t latency_next_ = 0, latency_filled_ = 0;
  double latency_sum_ms_ = 0;
  std::array<int64_t, kRateSeconds> bucket_tokens_{};
  std::array<int64_t, kRateSeconds> bucket_second_{};  // which second since start_ each bucket counts
  Gauges gauges_;
};

}  // namespace scanlab::serve
