#include "serve_bench.h"

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <future>
#include <thread>

#include "core/check.h"
#include "models/registry.h"
#include "serve/server.h"

namespace scanlab::bench {
namespace {

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

}  // namespace

std::vector<ServeBenchRow> run_serve_bench(const ServeBenchOptions& opts, at::Device device) {
  SCANLAB_CHECK(opts.requests >= 1 && opts.tokens >= 1 && opts.prompt_tokens >= 1,
                "bench serve: --requests, --tokens and --prompt-tokens must be >= 1");
  models::ModelSize size;
  size.width = opts.width;
  size.depth = opts.depth;
  size.chunk = 16;
  size.chunk_local_positions = true;  // T-PSM: no position limit on long runs
  size.max_positions = std::max<int64_t>(1024, opts.prompt_tokens + opts.tokens + 1);
  at::manual_seed(0);
  auto model = models::make_model(models::find_model(opts.model).sized_config(size));
  model->to(device);
  const auto prompt = at::randint(0, model->vocab_size(), {opts.prompt_tokens}, at::kLong);
  const std::vector<int64_t> ids(prompt.data_ptr<int64_t>(), prompt.data_ptr<int64_t>() + opts.prompt_tokens);
  const std::string body = nlohmann::json{{"prompt", ids}, {"max_tokens", opts.tokens}, {"temperature", 0}}.dump();

  std::vector<ServeBenchRow> rows;
  for (int64_t clients : opts.clients) {
    SCANLAB_CHECK(clients >= 1, "bench serve: --clients ", clients, ": expected >= 1");
    serve::ServerOptions so;
    so.host = "127.0.0.1";
    so.port = 0;
    so.max_batch = clients;  // every client's request can be live at once
    so.max_tokens = opts.tokens;
    serve::Server server(model, so);
    const int port = server.bind();
    std::thread runner([&] { server.run(); });
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::future<std::pair<std::vector<double>, int64_t>>> futures;
    for (int64_t c = 0; c < clients; ++c)
      futures.push_back(std::async(std::launch::async, [&] {
        std::vector<double> ms;
        int64_t errors = 0;
        httplib::Client client("127.0.0.1", port);
        client.set_read_timeout(600, 0);
        for (int64_t r = 0; r < opts.requests; ++r) {
          const auto s = std::chrono::steady_clock::now();
          auto res = client.Post("/v1/completions", body, "application/json");
          ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - s).count());
          if (!res || res->status != 200) ++errors;
        }
        return std::make_pair(ms, errors);
      }));
    ServeBenchRow row;
    row.clients = clients;
    std::vector<double> request_ms;
    for (auto& f : futures) {
      auto [ms, errors] = f.get();
      request_ms.insert(request_ms.end(), ms.begin(), ms.end());
      row.errors += errors;
    }
    row.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    row.requests = static_cast<int64_t>(request_ms.size());
    row.tokens_per_s = static_cast<double>(server.metrics().tokens_total()) / row.wall_s;
    row.request_p50_ms = quantile(request_ms, 0.5);
    row.request_p99_ms = quantile(request_ms, 0.99);
    row.token_p50_ms = server.metrics().latency_quantile(0.5);
    row.token_p99_ms = server.metrics().latency_quantile(0.99);
    server.stop();
    runner.join();
    rows.push_back(row);
  }
  return rows;
}

std::string format_serve_bench(const std::vector<ServeBenchRow>& rows, const ServeBenchOptions& opts,
                               const std::string& device) {
  if (opts.format == "json") {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& r : rows)
      j.push_back({{"clients", r.clients},
                   {"requests", r.requests},
                   {"errors", r.errors},
                   {"wall_s", r.wall_s},
                   {"tokens_per_s", r.tokens_per_s},
                   {"request_p50_ms", r.request_p50_ms},
                   {"request_p99_ms", r.request_p99_ms},
                   {"token_p50_ms", r.token_p50_ms},
                   {"token_p99_ms", r.token_p99_ms}});
    return j.dump(2) + "\n";
  }
  std::string out = fmt::format(
      "scanlab serve, {} (width {}, depth {}) on {}: {} requests per client, prompt {} tokens, {} generated, "
      "greedy\n\n",
      opts.model, opts.width, opts.depth, device, opts.requests, opts.prompt_tokens, opts.tokens);
  out += "| clients | requests | errors | tokens/s | request p50 ms | request p99 ms | token p50 ms | token p99 ms |\n";
  out += "|---|---|---|---|---|---|---|---|\n";
  for (const auto& r : rows)
    out += fmt::format("| {} | {} | {} | {:.0f} | {:.1f} | {:.1f} | {:.3f} | {:.3f} |\n", r.clients, r.requests,
                       r.errors, r.tokens_per_s, r.request_p50_ms, r.request_p99_ms, r.token_p50_ms, r.token_p99_ms);
  return out;
}

}  // namespace scanlab::bench
