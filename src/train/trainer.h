// The training loop (PSM paper §4 protocols): AdamW, linear warmup + cosine decay, gradient
// clipping, gradient accumulation, bf16 autocast on CUDA, evaluation every K steps with early
// stopping, curriculum stages (each a seq_len; every stage starts from the previous weights with a
// fresh optimizer and schedule, as the paper's per-stage runs do), checkpoints every K steps and at
// the end, exact resume, SIGINT/SIGTERM -> save and stop, metrics JSONL/CSV, a progress bar.
// Data order: stage s, sample k reads example perm_{s,epoch}[k mod N], perm from (seed, s, epoch);
// data-parallel ranks each take a slice of every micro-batch, so the order does not depend on their number.
// A NaN or Inf loss stops the run with an error naming the step.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dist/group.h"
#include "models/sequence_model.h"
#include "train/experiment.h"

namespace scanlab::train {

struct RunControl {
  bool resume = false;            // continue from <out_dir>/checkpoint.safetensors
  bool progress = false;          // draw the progress bar (the CLI sets it for a TTY or --progress)
  int64_t stop_after_steps = -1;  // >= 0: save and stop after this many global steps (as a kill would)
  bool quiet = false;             // no per-eval lines on stdout
  // Data parallel (train/data_parallel.h): this process is one rank of `group`; null: alone. Rank 0
  // alone writes the checkpoint, metrics and output; every rank reads the checkpoint to resume.
  std::shared_ptr<dist::Group> group;
  int64_t bucket_bytes = 25 << 20;  // gradient all-reduce buckets
  // Sequence parallel (`--seq-parallel`, dist/seq_parallel.h): every rank takes the whole batch and
  // one block of each sequence's chunks, instead of a slice of the batch.
  bool seq_parallel = false;
};

struct StageSummary {
  int64_t seq_len = 0, steps = 0;
  double eval_loss = 0, eval_acc = 0;
  bool early_stopped = false;
};

struct TrainResult {
  bool interrupted = false;  // stopped by a signal or stop_after_steps; the checkpoint can resume it
  int stop_signal = 0;       // the signal that stopped it (SIGINT, SIGTERM), 0 for none
  int64_t global_step = 0;
  std::vector<double> step_losses;  // training loss of every optimizer step run in this call
  std::vector<StageSummary> stages;
  std::string checkpoint_path;
};

// Trains `model` (already on `device`) on the experiment's task. The model is not built here so that
// tests can train a model of their own; train_experiment() builds it from the registry.
TrainResult train_model(models::SequenceModel& model, const ExperimentConfig& cfg, const RunControl& control,
                        at::Device device);

// Refuses, before anything is built, an experiment whose model, optimizer state and largest batch
// (models/model_size.h) need more memory than `device` has: one line with the estimate.
void check_training_fits(const ExperimentConfig& cfg, at::Device device);
// The [model] section checked by the registry as the model would be built (unknown keys, ranges),
// allocating nothing; errors name `source` (the experiment file).
void check_experiment_model(const ExperimentConfig& cfg, const std::string& source);

// The model an experiment describes, with vocab_size filled in from the task when absent.
std::shared_ptr<models::SequenceModel> make_experiment_model(const ExperimentConfig& cfg);
TrainResult train_experiment(const ExperimentConfig& cfg, const RunControl& control, at::Device device);

std::string checkpoint_path(const ExperimentConfig& cfg);

}  // namespace scanlab::train
