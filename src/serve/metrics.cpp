#include "serve/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

namespace scanlab::serve {

Metrics::Metrics() : start_(Clock::now()) { bucket_second_.fill(-1); }

void Metrics::request_done(int status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[status];
}

void Metrics::token(double latency_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  ++tokens_;
  latency_[latency_next_] = latency_ms;
  latency_next_ = (latency_next_ + 1) % kLatencyWindow;
  latency_filled_ = std::min(latency_filled_ + 1, kLatencyWindow);
  latency_sum_ms_ += latency_ms;
  const int64_t second = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - start_).count();
  const size_t b = static_cast<size_t>(second % kRateSeconds);
  if (bucket_second_[b] != second) {
    bucket_second_[b] = second;
    bucket_tokens_[b] = 0;
  }
  ++bucket_tokens_[b];
}

void Metrics::set_gauges(const Gauges& g) {
  std::lock_guard<std::mutex> lock(mu_);
  gauges_ = g;
}

double Metrics::quantile_locked(double q) const {
  if (latency_filled_ == 0) return 0;
  std::vector<double> v(latency_.begin(), latency_.begin() + static_cast<std::ptrdiff_t>(latency_filled_));
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

double Metrics::rate_locked() const {
  const double up = std::chrono::duration<double>(Clock::now() - start_).count();
  const int64_t now = static_cast<int64_t>(up);
  int64_t sum = 0;
  // The current second is still filling, so the window is the kRateSeconds - 1 full seconds before
  // it plus the part of this one that has passed.
  for (size_t b = 0; b < bucket_second_.size(); ++b)
    if (bucket_second_[b] > now - kRateSeconds) sum += bucket_tokens_[b];
  const double span = std::min(up, static_cast<double>(kRateSeconds - 1) + (up - static_cast<double>(now)));
  return span > 0 ? static_cast<double>(sum) / span : 0;
}

double Metrics::latency_quantile(double q) const {
  std::lock_guard<std::mutex> lock(mu_);
  return quantile_locked(q);
}

double Metrics::tokens_per_second() const {
  std::lock_guard<std::mutex> lock(mu_);
  return rate_locked();
}

int64_t Metrics::tokens_total() const {
  std::lock_guard<std::mutex> lock(mu_);
  return tokens_;
}

int64_t Metrics::requests_total() const {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t n = 0;
  for (const auto& [status, count] : requests_) n += count;
  return n;
}

std::string Metrics::prometheus() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  metric("scanlab_requests_total", "counter", "Finished requests, by HTTP status.");
  if (requests_.empty()) out += "scanlab_requests_total{code=\"200\"} 0\n";
  for (const auto& [status, count] : requests_)
    out += fmt::format("scanlab_requests_total{{code=\"{}\"}} {}\n", status, count);
  metric("scanlab_tokens_generated_total", "counter", "Tokens generated.");
  out += fmt::format("scanlab_tokens_generated_total {}\n", tokens_);
  metric("scanlab_tokens_per_second", "gauge", "Tokens generated per second over the last 10 s.");
  out += fmt::format("scanlab_tokens_per_second {:.3f}\n", rate_locked());
  metric("scanlab_token_latency_ms", "summary",
         "Time between a request's consecutive tokens (quantiles over the last 4096 tokens).");
  out += fmt::format("scanlab_token_latency_ms{{quantile=\"0.5\"}} {:.4f}\n", quantile_locked(0.5));
  out += fmt::format("scanlab_token_latency_ms{{quantile=\"0.99\"}} {:.4f}\n", quantile_locked(0.99));
  out +=
      fmt::format("scanlab_token_latency_ms_sum {:.4f}\nscanlab_token_latency_ms_count {}\n", latency_sum_ms_, tokens_);
  metric("scanlab_live_streams", "gauge", "Requests generating now (stepped together each tick).");
  out += fmt::format("scanlab_live_streams {}\n", gauges_.live_streams);
  metric("scanlab_queued_requests", "gauge", "Requests waiting for a place in the batch (--max-batch).");
  out += fmt::format("scanlab_queued_requests {}\n", gauges_.queued_requests);
  metric("scanlab_state_bytes", "gauge", "Bytes of stream state held in memory.");
  out += fmt::format("scanlab_state_bytes{{where=\"live\"}} {}\n", gauges_.live_state_bytes);
  out += fmt::format("scanlab_state_bytes{{where=\"sessions\"}} {}\n", gauges_.session_state_bytes);
  metric("scanlab_sessions", "gauge", "Idle sessions kept, in memory or evicted to --session-dir.");
  out += fmt::format("scanlab_sessions{{where=\"memory\"}} {}\n", gauges_.sessions_in_memory);
  out += fmt::format("scanlab_sessions{{where=\"disk\"}} {}\n", gauges_.sessions_on_disk);
  metric("scanlab_session_evictions_total", "counter", "Sessions evicted from memory by --session-bytes.");
  out += fmt::format("scanlab_session_evictions_total {}\n", gauges_.session_evictions);
  return out;
}

}  // namespace scanlab::serve
