// Serving benchmark (`scanlab bench serve`): an in-process `scanlab serve` on a loopback port with a
// random-init model, driven by C concurrent clients (each R greedy requests of T tokens), for each
// C asked. Reports throughput and request latency as the clients see them, and the server's own
// per-token latency (time between a request's consecutive tokens). Figures, not assertions.
#pragma once
#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace scanlab::bench {

struct ServeBenchOptions {
  std::string model = "transformer_psm";
  std::vector<int64_t> clients{1, 4, 16};
  int64_t requests = 4;  // per client
  int64_t prompt_tokens = 16;
  int64_t tokens = 32;  // generated per request
  int64_t width = 64;
  int64_t depth = 2;
  std::string format = "md";  // md | json
};

struct ServeBenchRow {
  int64_t clients = 0, requests = 0, errors = 0;
  double wall_s = 0, tokens_per_s = 0;
  double request_p50_ms = 0, request_p99_ms = 0;  // whole request, client side
  double token_p50_ms = 0, token_p99_ms = 0;      // between a request's tokens, server side
};

std::vector<ServeBenchRow> run_serve_bench(const ServeBenchOptions& opts, at::Device device);
std::string format_serve_bench(const std::vector<ServeBenchRow>& rows, const ServeBenchOptions& opts,
                               const std::string& device);

}  // namespace scanlab::bench
