// Experiment files (TOML, read by io/toml.h) and --set overrides -> one validated ExperimentConfig.
// The trainer owns it. Sections:
//   name = "..."                 run name (default: the file's stem)
//   [task]  kind = a name of the task registry (tasks/registry.h), then that task's options
//   [model] model = "<registry name>", then the model's own keys (checked by its factory);
//           vocab_size is filled in from the task when absent
//   [train] optimisation, schedule, curriculum, checkpoints (TrainOptions below)
//   [eval]  mode = "parallel" | "stream", lengths = [...], examples, batch_size
// Any unknown key, wrong type or value outside its range is an error naming it and what is allowed.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tasks/registry.h"

namespace scanlab::train {

struct TrainOptions {
  int64_t steps = 1000;     // optimizer steps per curriculum stage
  int64_t batch_size = 32;  // examples per micro-batch
  int64_t grad_accum = 1;   // micro-batches per optimizer step
  double lr = 1e-4;
  int64_t warmup_steps = 0;  // linear warmup from 0, then cosine decay to lr * min_lr_ratio
  double min_lr_ratio = 0.0;
  double weight_decay = 0.01;  // AdamW, decoupled; applied to tensors with >= 2 dims
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double clip_norm = 1.0;    // global gradient norm; 0 disables
  int64_t eval_every = 100;  // steps; 0: only at the end of a stage
  int64_t eval_examples = 256;
  int64_t eval_batch_size = 64;
  double early_stop_loss = 0;       // > 0: end a stage once the eval loss falls below it (paper: 0.001)
  double early_stop_accuracy = -1;  // in [0, 1]: end a stage once the eval accuracy reaches it; < 0: off
  int64_t patience = 0;             // > 0: end a stage after this many evals without a better eval loss
  int64_t checkpoint_every = 0;     // steps; 0: only at the end (and on SIGINT/SIGTERM)
  int64_t log_every = 10;
  std::vector<int64_t> curriculum;  // seq_len per stage, each starting from the previous; empty: one stage
  bool bf16 = true;                 // bfloat16 autocast, CUDA only
  std::string dtype = "float32";    // the parameters' dtype: float32 | float64 (reference runs and tests)
  uint64_t seed = 0;                // model init, dropout
  std::string out_dir;              // default: runs/<name>
};

struct EvalConfig {
  std::string mode = "parallel";  // parallel | stream
  std::vector<int64_t> lengths;   // length-generalisation sweep; empty: the task's seq_len
  int64_t examples = 256;
  int64_t batch_size = 64;
};

struct ExperimentConfig {
  std::string name = "experiment";
  tasks::TaskConfig task;  // checked; tasks::make_task(task, T) builds it
  nlohmann::json model = nlohmann::json::object();
  TrainOptions train;
  EvalConfig eval;
  nlohmann::json source;  // the merged JSON this was read from (stored in checkpoints)
};

// Validates and fills the structs; errors name the key.
ExperimentConfig parse_experiment(const nlohmann::json& root);
// Reads a TOML file, applies the overrides in order, validates.
ExperimentConfig load_experiment(const std::string& path, const std::vector<std::string>& overrides);

}  // namespace scanlab::train
