// Training-step benchmark (`scanlab bench train-step`): milliseconds for one forward + cross-entropy
// + backward pass over a [B, T] batch of random tokens, per model, every model sized through the
// registry (models::ModelEntry::sized_config) at one width, depth, head size and vocabulary. Also
// model FLOPs per step (bench/flops.h), model TFLOP/s and peak allocated memory (bench/device_memory.h,
// CUDA or CPU). Tells a
// user what a training run will cost before it runs. Figures, not assertions.
#pragma once
#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "models/registry.h"

namespace scanlab::bench {

struct TrainStepBenchOptions {
  std::vector<std::string> models{"transformer_psm", "gpt2", "gla", "mamba2", "mamba"};
  std::vector<int64_t> lengths{128};  // sequence lengths T
  int64_t batch = 32;
  int64_t width = 128;
  int64_t depth = 2;
  int64_t chunk = 64;   // T-PSM chunk size (and the chunk of the chunked affine scans)
  int64_t vocab = 256;  // 256 keeps CPU runs quick; the GPU comparisons use 50257
  int64_t heads = 0;    // 0: width / head_dim (registry.h ModelSize::heads_for)
  int64_t head_dim = 64;
  int64_t state_size = 16;        // d_state of Mamba and Mamba2
  std::string dtype = "float32";  // float32 | bfloat16 (CUDA autocast, as the trainer's train.bf16)
  // auto: the fused chunked kernels where they take the arguments (as train runs); torch: the batched
  // torch form of the chunked ops (ops::set_fused_chunked_kernels(false)) for a side-by-side.
  std::vector<std::string> paths{"auto"};
  // Transformer-PSM only: activation checkpointing per Agg level (TransformerPsmOptions::checkpoint_agg);
  // its rows' path says ", checkpoint_agg". Other models ignore it.
  bool checkpoint_agg = false;
  int repeats = 3;
  std::string format = "md";  // md | json

  models::ModelSize size(int64_t seq_len) const;
};

struct TrainStepBenchRow {
  std::string model;
  std::string path = "auto";
  int64_t seq_len = 0;
  int64_t parameters = 0;
  double forward_ms = 0;    // forward + loss, no graph kept
  double step_ms = 0;       // forward + loss + backward
  double flops = 0;         // model FLOPs per step (bench/flops.h)
  int64_t peak_bytes = -1;  // peak allocated memory of the cell (model, batch, timed steps); -1 where not measured
};

std::vector<TrainStepBenchRow> run_train_step_bench(const TrainStepBenchOptions& o, at::Device device);
std::string format_train_step_bench(const std::vector<TrainStepBenchRow>& rows, const TrainStepBenchOptions& o,
                                    const std::string& device_name);

}  // namespace scanlab::bench
