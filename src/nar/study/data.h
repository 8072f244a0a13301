// The bridge from the algorithm library (src/nar: registry, samplers, datasets, batches) to the
// GNN's FeatureBatch, the fixed CLRS30-style splits of the study, and checkpoint evaluation.
#pragma once
#include <c10/core/Device.h>

#include <string>

#include "nar/batch.h"
#include "nar/gnn/evaluation.h"
#include "nar/study/train_eval.h"

namespace scanlab::nar::study {

// Hints go from the batch's [B,T,...] to the GNN's time-major [T,B,...]; spec order is kept.
gnn::FeatureBatch to_features(const BatchTensors& t);

// train: train_samples at train_nodes (sampler seed 1); val: eval_samples x multiplier at val_nodes
// (seed 2, random positions when o.random_pos); test: the same at test_nodes (seed 3, linear
// positions). Permutations and pred-as-input follow the options (nar/dataset.h does them).
Splits make_splits(const TrainOptions& o);

// Evaluation-time settings: Sinkhorn of permutation outputs (the trained parameters do not depend on
// them). Negative / zero values keep the net's defaults (gnn::NetOptions: 10 decoder rounds, 50
// hard rounds, temperature 0.1); steps 0 given explicitly means no normalisation (row argmax).
struct EvalOverrides {
  int64_t steps = -1, hard_steps = -1;
  double temperature = 0.0;
  bool true_hints = false;  // feed the ground-truth hints at every step (gnn::NetOptions::eval_true_hints)
};

struct CheckpointScores {
  TrainOptions options;  // as stored in the checkpoint
  int64_t nodes = 0, samples = 0;
  int64_t sinkhorn_steps = 0, hard_sinkhorn_steps = 0;  // as evaluated
  double sinkhorn_temperature = 0.0;
  bool true_hints = false;
  gnn::OutputScores scores;
};

// Rebuilds the net a checkpoint was trained with and scores it on `samples` x multiplier fresh
// test samples (seed 3) of size `nodes`.
CheckpointScores evaluate_checkpoint(const std::string& path, int64_t nodes, int64_t samples, at::Device device,
                                     const EvalOverrides& overrides = {});
std::string format_scores(const CheckpointScores& s);

}  // namespace scanlab::nar::study
