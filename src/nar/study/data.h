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

struct CheckpointScores {
  TrainOptions options;  // as stored in the checkpoint
  int64_t nodes = 0, samples = 0;
  gnn::OutputScores scores;
};

// Rebuilds the net a checkpoint was trained with and scores it on `samples` x multiplier fresh
// test samples (seed 3) of size `nodes`.
CheckpointScores evaluate_checkpoint(const std::string& path, int64_t nodes, int64_t samples, at::Device device);
std::string format_scores(const CheckpointScores& s);

}  // namespace scanlab::nar::study
