// `scanlab eval`: trained checkpoints evaluated on their task (accuracy, per-position error,
// perplexity), by the parallel or the streaming path, over a length-generalisation sweep; results
// as a markdown table, JSON, and SVG plots (error vs length per model, error by position), plus
// training curves from metrics.jsonl files.
#pragma once
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "models/sequence_model.h"
#include "train/experiment.h"

namespace scanlab::train {

using ModelFactory = std::function<std::shared_ptr<models::SequenceModel>(const nlohmann::json&)>;

struct EvalOptions {
  std::vector<std::string> checkpoints;  // one model each
  std::string mode;                      // parallel | stream; empty: the experiment's eval.mode
  std::vector<int64_t> lengths;          // empty: the experiment's eval.lengths, else its seq_len
  int64_t examples = 0;                  // 0: the experiment's eval.examples
  int64_t batch_size = 0;                // 0: the experiment's eval.batch_size
  std::string out_dir;                   // when set: eval.md, eval.json, error_vs_length.svg, error_by_position.svg
  std::string experiment;                // experiment TOML naming the task; needed for a weights-only model file
  ModelFactory make_model;               // default: the model registry
};

struct EvalRow {
  std::string model;  // the experiment name
  int64_t length = 0;
  int64_t scored = 0;  // supervised positions
  double loss = 0, accuracy = 0, perplexity = 0;
  std::vector<double> error_at;  // per aligned position
};

struct TrainedRun {
  ExperimentConfig config;
  std::shared_ptr<models::SequenceModel> model;
};
// The model of a model file or training checkpoint and the experiment to evaluate it on: the one
// `experiment_file` names, else the one the training checkpoint recorded.
TrainedRun load_trained_run(const std::string& checkpoint, const ModelFactory& make_model, at::Device device,
                            const std::string& experiment_file = "");

std::vector<EvalRow> run_eval(const EvalOptions& opts, at::Device device);
std::string eval_markdown(const std::vector<EvalRow>& rows);
void write_eval_outputs(const std::vector<EvalRow>& rows, const std::string& out_dir);

// Training loss and eval accuracy against global step, one series per metrics.jsonl.
std::string training_curves_svg(const std::vector<std::string>& metrics_paths, const std::string& metric);

}  // namespace scanlab::train
