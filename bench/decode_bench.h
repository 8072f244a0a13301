// Decode benchmark (`scanlab bench decode`): per-token latency and stream state bytes against the
// token index, for several models at equal width and depth, batch 1, greedy feeding of fixed
// random tokens (sampling is not timed). Figures, not assertions.
#pragma once
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace scanlab::bench {

struct DecodeBenchOptions {
  std::vector<std::string> models{"transformer_psm", "gpt2", "sliding_window", "gla", "mamba2", "mamba"};
  int64_t tokens = 2048;  // steps per model
  int64_t width = 128;    // model width (n_embd / d_model)
  int64_t depth = 2;      // layers (T-PSM: this many Agg and this many Inf layers)
  int64_t chunk = 64;     // T-PSM chunk size
  int64_t window = 256;   // sliding-window size
  int64_t vocab = 256;
  int64_t batch = 1;
  std::string dtype = "float32";  // float32 | bfloat16 (CUDA)
  bool cuda_graphs = true;        // replay steps as CUDA graphs where the stream allows it
  bool boundary_overlap = true;   // T-PSM: chunk-boundary work on a second CUDA stream
  std::string csv;                // optional: every step's latency and state bytes
  std::string plot_dir;           // optional: SVG plots of latency and state bytes vs token index
  std::string format = "md";      // md | json
};

struct DecodeBenchRow {
  std::string model;
  int64_t parameters = 0;
  // Latency percentiles (ms) in windows of the token index, and state bytes at window ends.
  std::vector<int64_t> window_end;
  std::vector<double> p50_ms, p99_ms;
  std::vector<int64_t> state_bytes;
  // The same in kCurveWindows equal windows of the run, for the plots: p50 of the steps without
  // Agg, p50 of the chunk-boundary steps (0 where a window has none), state bytes at the window end.
  std::vector<int64_t> curve_token;
  std::vector<double> curve_p50_ms, curve_agg_p50_ms;
  std::vector<int64_t> curve_state_bytes;
  double agg_step_p50_ms = 0;  // chunk-boundary steps (T-PSM); 0 if none
  int64_t agg_steps = 0;
  bool cuda_graphs = false;       // whether its steps were CUDA-graph replays
  bool boundary_overlap = false;  // whether its chunk-boundary work overlapped the step
};

// Model config for the benchmark: the registry's sized_config at width, depth, vocabulary, chunk and
// window, heads of 64 and d_state 16 (registry.h ModelSize defaults), positions for `tokens` steps.
nlohmann::json decode_bench_config(const std::string& model, const DecodeBenchOptions& o);

std::vector<DecodeBenchRow> run_decode_bench(const DecodeBenchOptions& o, at::Device device);
// Writes decode_latency.svg, decode_state.svg and decode.json (the `-o json` rows, which `scanlab report`
// reads) into `dir` (created if missing); returns their paths.
std::vector<std::string> write_decode_plots(const std::vector<DecodeBenchRow>& rows, const DecodeBenchOptions& o,
                                            const std::string& dir, const std::string& device_name);

std::string format_decode_bench(const std::vector<DecodeBenchRow>& rows, const DecodeBenchOptions& o,
                                const std::string& device_name);

}  // namespace scanlab::bench
