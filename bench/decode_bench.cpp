#include "decode_bench.h"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "core/atomic_file.h"
#include "core/check.h"
#include "core/device_sync.h"
#include "core/memory.h"
#include "infer/latency_stats.h"
#include "io/svg_plot.h"
#include "models/model_size.h"
#include "models/registry.h"

namespace scanlab::bench {
namespace {

constexpr int64_t kCurveWindows = 50;

void make_plot_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  SCANLAB_CHECK(!ec && std::filesystem::is_directory(dir), "--plot-dir '", dir, "': cannot create the directory (",
                ec ? ec.message() : "a file has that name", ")");
}

}  // namespace

nlohmann::json decode_bench_config(const std::string& model, const DecodeBenchOptions& o) {
  models::ModelSize size;
  size.width = o.width;
  size.depth = o.depth;
  size.chunk = o.chunk;
  size.vocab = o.vocab;
  size.window = o.window;
  size.max_positions = o.tokens + 1;  // GPT-2 learns a position per decoded token
  size.chunk_local_positions = true;  // T-PSM: unbounded streaming
  return models::find_model(model).sized_config(size);
}

std::vector<DecodeBenchRow> run_decode_bench(const DecodeBenchOptions& o, at::Device device) {
  SCANLAB_CHECK(o.tokens >= 16, "--tokens ", o.tokens, ": expected at least 16");
  SCANLAB_CHECK(o.batch >= 1, "--batch ", o.batch, ": expected at least 1");
  SCANLAB_CHECK(o.dtype == "float32" || o.dtype == "bfloat16", "--dtype '", o.dtype, "': expected float32 or bfloat16");
  SCANLAB_CHECK(o.format == "md" || o.format == "json", "--format '", o.format, "': expected md or json");
  const auto dtype = o.dtype == "bfloat16" ? at::kBFloat16 : at::kFloat;
  std::ofstream csv;
  if (!o.csv.empty()) {
    csv.open(o.csv);
    SCANLAB_CHECK(csv.good(), "cannot write --csv '", o.csv, "'");
    csv << "model,token,ms,aggregated,state_bytes\n";
  }
  if (!o.plot_dir.empty()) make_plot_dir(o.plot_dir);  // before the run, not after it
  at::NoGradGuard no_grad;
  std::vector<DecodeBenchRow> rows;
  for (const auto& name : o.models) {
    const nlohmann::json config = decode_bench_config(name, o);
    // The weights, and the tokens drawn up front (int64 [tokens, batch]); the stream's state is left out.
    check_fits_in_memory(models::weight_bytes(config, dtype == at::kBFloat16 ? 2.0 : 4.0) +
                             8.0 * static_cast<double>(o.tokens) * static_cast<double>(o.batch),
                         device,
                         fmt::format("bench decode: {} at --width {}, --depth {}, --tokens {}, --batch {}", name,
                                     o.width, o.depth, o.tokens, o.batch));
    auto model = models::make_model(config);
    model->to(device, dtype);
    model->eval();
    DecodeBenchRow row;
    row.model = name;
    for (const auto& p : model->parameters()) row.parameters += p.numel();
    auto stream = model->start_stream(o.batch);
    row.cuda_graphs = stream->use_cuda_graphs(o.cuda_graphs);
    row.boundary_overlap = stream->use_boundary_overlap(o.boundary_overlap);
    at::Tensor tokens = at::randint(0, o.vocab, {o.tokens, o.batch}, at::kLong).to(device);
    for (int64_t w = 0; w < 4; ++w) stream->step(tokens[w]);  // warm-up: kernels loaded, caches sized
    std::vector<infer::StepRecord> steps;
    for (int64_t t = 4; t < o.tokens; ++t) {
      const int64_t aggs = stream->agg_calls();
      const auto t0 = std::chrono::steady_clock::now();
      stream->step(tokens[t]);
      synchronize(device);
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      steps.push_back({ms, stream->agg_calls() > aggs, stream->state_bytes()});
      if (csv.is_open())
        csv << name << ',' << t + 1 << ',' << ms << ',' << steps.back().aggregated << ',' << steps.back().state_bytes
            << '\n';
    }
    // Windows ending at 1/8, 1/4, 1/2 and all of the run (log-spaced token indices).
    for (int64_t frac : {8, 4, 2, 1}) {
      const int64_t end = std::max<int64_t>(8, static_cast<int64_t>(steps.size()) / frac);
      const int64_t begin = std::max<int64_t>(0, end - std::max<int64_t>(8, end / 4));
      std::vector<infer::StepRecord> window(steps.begin() + begin, steps.begin() + end);
      auto s = infer::summarize(window);
      row.window_end.push_back(end + 4);
      row.p50_ms.push_back(s.plain_p50_ms > 0 ? s.plain_p50_ms : s.p50_ms);
      row.p99_ms.push_back(s.p99_ms);
      row.state_bytes.push_back(window.back().state_bytes);
    }
    const int64_t span = std::max<int64_t>(1, static_cast<int64_t>(steps.size()) / kCurveWindows);
    for (int64_t begin = 0; begin + span <= static_cast<int64_t>(steps.size()); begin += span) {
      std::vector<infer::StepRecord> window(steps.begin() + begin, steps.begin() + begin + span);
      auto s = infer::summarize(window);
      row.curve_token.push_back(begin + span + 4);
      row.curve_p50_ms.push_back(s.plain_p50_ms > 0 ? s.plain_p50_ms : s.p50_ms);
      row.curve_agg_p50_ms.push_back(s.agg_p50_ms);
      row.curve_state_bytes.push_back(window.back().state_bytes);
    }
    auto all = infer::summarize(steps);
    row.agg_steps = all.agg_steps;
    row.agg_step_p50_ms = all.agg_p50_ms;
    rows.push_back(row);
    std::cerr << fmt::format("  {}: {} steps done\n", name, steps.size());
  }
  return rows;
}

std::vector<std::string> write_decode_plots(const std::vector<DecodeBenchRow>& rows, const DecodeBenchOptions& o,
                                            const std::string& dir, const std::string& device_name) {
  make_plot_dir(dir);
  std::vector<io::PlotSeries> latency, state;
  for (const auto& r : rows) {
    io::PlotSeries lat{r.model, {}, {}}, boundary{r.model + " (chunk-boundary steps)", {}, {}}, bytes{r.model, {}, {}};
    for (size_t i = 0; i < r.curve_token.size(); ++i) {
      const double token = static_cast<double>(r.curve_token[i]);
      lat.x.push_back(token);
      lat.y.push_back(r.curve_p50_ms[i]);
      if (r.curve_agg_p50_ms[i] > 0) {
        boundary.x.push_back(token);
        boundary.y.push_back(r.curve_agg_p50_ms[i]);
      }
      bytes.x.push_back(token);
      bytes.y.push_back(static_cast<double>(r.curve_state_bytes[i]) / 1024.0);
    }
    latency.push_back(lat);
    if (!boundary.x.empty()) latency.push_back(boundary);
    state.push_back(bytes);
  }
  const std::string shape =
      fmt::format("batch {}, d {}, depth {}, {}, {}", o.batch, o.width, o.depth, o.dtype, device_name);
  const std::vector<std::string> paths = {dir + "/decode_latency.svg", dir + "/decode_state.svg", dir + "/decode.json"};
  write_file_atomically(paths[0], io::svg_line_plot(latency, {"Per-token latency (p50 per window): " + shape,
                                                              "token index", "ms per token"}));
  write_file_atomically(paths[1], io::svg_line_plot(state, {"Stream state: " + shape, "token index", "state KiB"}));
  // The table's numbers as `-o json` prints them, for `scanlab report`.
  DecodeBenchOptions as_json = o;
  as_json.format = "json";
  write_file_atomically(paths[2], format_decode_bench(rows, as_json, device_name));
  return paths;
}

std::string format_decode_bench(const std::vector<DecodeBenchRow>& rows, const DecodeBenchOptions& o,
                                const std::string& device_name) {
  if (o.format == "json") {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& r : rows)
      j.push_back({{"model", r.model},
                   {"parameters", r.parameters},
                   {"window_end", r.window_end},
                   {"p50_ms", r.p50_ms},
                   {"p99_ms", r.p99_ms},
                   {"state_bytes", r.state_bytes},
                   {"agg_steps", r.agg_steps},
                   {"agg_step_p50_ms", r.agg_step_p50_ms},
                   {"device", device_name},
                   {"cuda_graphs", r.cuda_graphs},
                   {"boundary_overlap", r.boundary_overlap},
                   {"width", o.width},
                   {"depth", o.depth},
                   {"batch", o.batch},
                   {"dtype", o.dtype}});
    return j.dump(2) + "\n";
  }
  std::string s = fmt::format(
      "Decode: batch {}, width {}, depth {}, {} , {} steps, {}; p50 of steps without Agg in a window ending at "
      "the token index (p99 over all steps of the window)\n\n| model | params |",
      o.batch, o.width, o.depth, o.dtype, o.tokens, device_name);
  if (rows.empty()) return s + "\n";
  for (int64_t end : rows.front().window_end) s += fmt::format(" ms @{} |", end);
  for (int64_t end : rows.front().window_end) s += fmt::format(" state KiB @{} |", end);
  s += " Agg steps | Agg step p50 ms | CUDA graph | Agg overlap |\n|---|---:|";
  for (size_t i = 0; i < 2 * rows.front().window_end.size() + 2; ++i) s += "---:|";
  s += "---|---|";
  s += "\n";
  for (const auto& r : rows) {
    s += fmt::format("| {} | {} |", r.model, r.parameters);
    for (size_t i = 0; i < r.p50_ms.size(); ++i) s += fmt::format(" {:.3f} ({:.3f}) |", r.p50_ms[i], r.p99_ms[i]);
    for (int64_t b : r.state_bytes) s += fmt::format(" {:.1f} |", b / 1024.0);
    s += fmt::format(" {} | {:.3f} | {} | {} |\n", r.agg_steps, r.agg_step_p50_ms, r.cuda_graphs ? "yes" : "no",
                     r.boundary_overlap ? "yes" : "no");
  }
  return s;
}

}  // namespace scanlab::bench
