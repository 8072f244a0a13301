// The main job: a small Transformer-PSM and a GPT-2 baseline trained on MQAR on the CPU (minutes),
// their validation accuracy, and the check that streaming inference (token by token, the PSM's
// online binary counter) reproduces the parallel predictions.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

namespace scanlab::train {

struct MqarDemoOptions {
  // Defaults measured to learn the task on CPU in minutes (docs/mqar_demo.md); an H100 sweep found
  // 3000 steps of 32 examples stuck at the ln 4 plateau for GPT-2, and batch 128 clearing it.
  int64_t steps = 1500;
  int64_t seq_len = 32;
  int64_t num_kv_pairs = 4;
  int64_t vocab_size = 64;
  int64_t width = 64;       // n_embd of both models
  double lr = 3e-3;         // AdamW peak learning rate (linear warmup over 10% of the steps, cosine decay)
  int64_t batch_size = 128;
  int64_t chunk_size = 16;  // Transformer-PSM chunk
  int64_t eval_examples = 256;
  std::vector<std::string> models = {"transformer_psm", "gpt2"};
  std::string out_dir = "runs/mqar-demo";
  uint64_t seed = 0;
  bool progress = false;
};

struct MqarDemoRow {
  std::string model;
  int64_t parameters = 0;
  double train_seconds = 0;
  double accuracy_parallel = 0, accuracy_stream = 0;
  double argmax_agreement = 0;  // fraction of all positions where parallel and stream argmax agree
  double max_logit_diff = 0;    // largest |parallel - stream| logit
};

std::vector<MqarDemoRow> run_mqar_demo(const MqarDemoOptions& opts, at::Device device);
std::string format_mqar_demo(const MqarDemoOptions& opts, const std::vector<MqarDemoRow>& rows);

}  // namespace scanlab::train
