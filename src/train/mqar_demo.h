// The main job: a small Transformer-PSM and a GPT-2 baseline trained on MQAR on the CPU (minutes),
// each until its validation accuracy reaches a target (or a step cap), their validation accuracy,
// the check that streaming inference (token by token, the PSM's online binary counter) reproduces
// the parallel predictions, and each stream's state bytes as the token count grows.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

namespace scanlab::train {

struct MqarDemoOptions {
  // Four T-PSM chunks per sequence (T 16, c 4), so the queries from chunk 2 on are answered through
  // Agg; 2 pairs and vocabulary 32, because T = 32 with c = 8 and 4 pairs stayed at chance for 2000
  // steps. The cap bounds the run on a 2-core CPU. Tuning runs: docs/experiments.md ("The main job").
  int64_t steps = 800;            // cap per model; a model that reaches the target stops earlier
  double target_accuracy = 0.99;  // stop a model once its validation accuracy reaches this
  int64_t eval_every = 25;        // steps between validation evaluations
  int64_t seq_len = 16;
  int64_t num_kv_pairs = 2;
  int64_t vocab_size = 32;
  int64_t width = 64;       // n_embd of both models
  double lr = 3e-3;         // AdamW peak learning rate (linear warmup over 10% of the cap, cosine decay)
  int64_t batch_size = 128;
  int64_t chunk_size = 4;   // Transformer-PSM chunk
  int64_t eval_examples = 256;
  int64_t state_tokens = 1024;  // the state-bytes table streams this many tokens (both models' n_positions)
  std::vector<std::string> models = {"transformer_psm", "gpt2"};
  std::string out_dir = "runs/mqar-demo";
  uint64_t seed = 0;
  bool progress = false;
};

struct MqarDemoRow {
  std::string model;
  int64_t parameters = 0;
  int64_t steps = 0;            // optimizer steps run
  bool reached_target = false;  // stopped because validation accuracy reached the target
  double train_seconds = 0;     // training, the periodic evaluations included
  double accuracy_parallel = 0, accuracy_stream = 0;
  double argmax_agreement = 0;  // fraction of all positions where parallel and stream argmax agree
  double max_logit_diff = 0;    // largest |parallel - stream| logit
  // Most state bytes the stream held over the first n tokens, n = mqar_demo_state_tokens(opts)[i].
  std::vector<int64_t> state_bytes;
};

// Token counts of the state-bytes table: seq_len, doubling, up to and including state_tokens.
std::vector<int64_t> mqar_demo_state_tokens(const MqarDemoOptions& opts);
std::vector<MqarDemoRow> run_mqar_demo(const MqarDemoOptions& opts, at::Device device);
std::string format_mqar_demo(const MqarDemoOptions& opts, const std::vector<MqarDemoRow>& rows);

}  // namespace scanlab::train
