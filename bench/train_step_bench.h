// Training-step benchmark (`scanlab bench train-step`): milliseconds for one forward + cross-entropy
// + backward pass over a [B, T] batch of random tokens, per model, at equal width and depth (the
// model configs of the decode benchmark). Tells a user what a training run will cost before it runs.
// Figures, not assertions.
#pragma once
#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace scanlab::bench {

struct TrainStepBenchOptions {
  std::vector<std::string> models{"transformer_psm", "gpt2", "gla", "mamba2", "mamba"};
  std::vector<int64_t> lengths{128};  // sequence lengths T
  int64_t batch = 32;
  int64_t width = 128;
  int64_t depth = 2;
  int64_t chunk = 64;  // T-PSM chunk size (and the chunk of the chunked affine scans)
  int64_t vocab = 256;
  int repeats = 3;
  std::string format = "md";  // md | json
};

struct TrainStepBenchRow {
  std::string model;
  int64_t seq_len = 0;
  int64_t parameters = 0;
  double forward_ms = 0;   // forward + loss, no graph kept
  double step_ms = 0;      // forward + loss + backward
};

std::vector<TrainStepBenchRow> run_train_step_bench(const TrainStepBenchOptions& o, at::Device device);
std::string format_train_step_bench(const std::vector<TrainStepBenchRow>& rows, const TrainStepBenchOptions& o,
                                    const std::string& device_name);

}  // namespace scanlab::bench
