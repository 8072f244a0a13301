// Training checkpoints: the model file (models/checkpoint.h: weights, model config, tokenizer) plus
// what a resumed run needs to continue exactly as if never stopped, written atomically:
//   adam/<key>     AdamW moments and step count
//   rng/cpu, rng/cuda   generator states (dropout)
//   metadata "scanlab.train.progress": {stage, step, global_step, best_eval_loss, evals_since_best, done,
//                                       threads}
//   metadata "scanlab.train.experiment": the experiment (merged TOML + --set)
// So every command that reads a model reads a training checkpoint too. The data position needs no
// saving: sample k of a stage is a pure function of (seed, stage, k).
#pragma once
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <map>
#include <string>

#include "models/sequence_model.h"

namespace scanlab::train {

struct Progress {
  int64_t stage = 0;        // curriculum stage being trained
  int64_t step = 0;         // optimizer steps done in that stage
  int64_t global_step = 0;  // optimizer steps done in the whole run
  double best_eval_loss = INFINITY;
  int64_t evals_since_best = 0;
  bool done = false;    // the run finished every stage
  int64_t threads = 0;  // CPU threads torch used when it was written (0: not recorded, older files)
};

nlohmann::json progress_to_json(const Progress& p);
// Checks every field's kind and range (non-negative integers, a finite best loss or null, step <=
// global_step); throws scanlab::Error naming the field.
Progress progress_from_json(const nlohmann::json& j);
// Whether a run with `stages` curriculum stages of `steps_per_stage` steps can continue from p
// (stage inside the curriculum, steps within the budget); throws naming the checkpoint otherwise.
void check_resumable(const Progress& p, int64_t stages, int64_t steps_per_stage, const std::string& path);

struct Checkpoint {
  Progress progress;
  std::map<std::string, at::Tensor> model, optimizer, rng;  // model: the weights, as the model file names them
  nlohmann::json config, model_config, tokenizer;           // experiment, model, tokenizer description
};

void save_checkpoint(const std::string& path, const Checkpoint& ckpt);
// Errors if `path` is a model file without training state (train --resume and eval need it).
Checkpoint load_checkpoint(const std::string& path);

// Generator states of the CPU (and the CUDA device, when used) for exact dropout replay.
std::map<std::string, at::Tensor> capture_rng(at::Device device);
void restore_rng(const std::map<std::string, at::Tensor>& rng, at::Device device);

}  // namespace scanlab::train
