// The main job: a small Transformer-PSM and a GPT-2 baseline trained on a synthetic task on the CPU
// (minutes), each until its validation accuracy reaches a target (or a step cap); their accuracy,
// on the whole validation set and on the positions only Agg can answer; accuracy at longer
// lengths than trained on; the check that streaming inference (token by token, the PSM's online
// binary counter) reproduces the parallel predictions; and each stream's state bytes as the token
// count grows.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

namespace scanlab::demos {

struct TrainDemoOptions {
  // Flip-flop state tracking (tasks/flip_flop.h) at T 32 with c 4: eight chunks, and with one write
  // in 8 actions a third of the answers were written two or more chunks back, so only Agg's prefix
  // states carry them. MQAR ("mqar") stays selectable; its tuning runs never left the plateau on
  // this budget. Tuning runs: docs/experiments.md ("The main job").
  std::string task = "flip_flop";
  int64_t steps = 600;            // cap per model; a model that reaches the target stops earlier
  double target_accuracy = 0.99;  // stop a model once its validation accuracy reaches this
  int64_t eval_every = 25;        // steps between validation evaluations
  int64_t seq_len = 32;
  int64_t num_values = 4;     // flip_flop: values a write can set
  double write_prob = 0.125;  // flip_flop: share of writes among the actions after the first
  int64_t num_kv_pairs = 2;   // mqar: key-value pairs
  int64_t vocab_size = 32;    // mqar: vocabulary
  int64_t width = 64;         // n_embd of both models
  double lr = 3e-3;           // AdamW peak learning rate (linear warmup over 10% of the cap, cosine decay)
  int64_t batch_size = 64;
  int64_t chunk_size = 4;  // Transformer-PSM chunk
  int64_t eval_examples = 256;
  std::vector<int64_t> lengths = {128, 512};  // accuracy at these lengths too (length generalisation)
  int64_t state_tokens = 1024;                // the state-bytes table streams this many tokens (GPT-2's n_positions)
  std::vector<std::string> models = {"transformer_psm", "gpt2"};
  std::string out_dir = "runs/train-demo";
  uint64_t seed = 0;
  bool progress = false;
};

struct TrainDemoRow {
  std::string model;
  int64_t parameters = 0;
  int64_t steps = 0;            // optimizer steps run
  bool reached_target = false;  // stopped because validation accuracy reached the target
  double train_seconds = 0;     // training, the periodic evaluations included
  double accuracy_parallel = 0, accuracy_stream = 0;
  // flip_flop: accuracy over the positions whose value was written two or more chunks back (NaN
  // for other tasks, or when there are none).
  double accuracy_through_agg = 0;
  int64_t positions_through_agg = 0;
  std::vector<double> accuracy_at_length;  // per TrainDemoOptions::lengths, parallel
  double argmax_agreement = 0;             // fraction of all positions where parallel and stream argmax agree
  double max_logit_diff = 0;               // largest |parallel - stream| logit
  // Most state bytes the stream held over the first n tokens, n = train_demo_state_tokens(opts)[i].
  std::vector<int64_t> state_bytes;
};

// Token counts of the state-bytes table: seq_len, doubling, up to and including state_tokens.
std::vector<int64_t> train_demo_state_tokens(const TrainDemoOptions& opts);
// Checks the options (one line naming the flag and what is allowed), then trains and measures.
std::vector<TrainDemoRow> run_train_demo(const TrainDemoOptions& opts, at::Device device);
std::string format_train_demo(const TrainDemoOptions& opts, const std::vector<TrainDemoRow>& rows);

}  // namespace scanlab::demos
