// The encode-process-decode network and its unroll (CLRS). One Net per algorithm; its
// encoders and decoders are built from an example batch (names, types and category counts).
// A forward pass runs max(1, T-1) processor steps: step 0 sees the ground-truth hints of time 0,
// step i >= 1 sees the hints predicted at step i-1 (soft or hard), or -- in training, per sample with
// probability `teacher_forcing` -- the true hints of time i. Each sample's outputs are the decoder's
// outputs at its own last step (index length-2, or 0), later steps leave them frozen.
#pragma once
#include <torch/nn/module.h>

#include <map>
#include <string>
#include <vector>

#include "nar/gnn/decoders.h"
#include "nar/gnn/encoders.h"
#include "nar/gnn/features.h"
#include "nar/gnn/processor.h"

namespace scanlab::nar::gnn {

struct NetOptions {
  ProcessorOptions processor;
  bool use_hints = true;  // encoded_decoded (true) or no hints at all (false)
  Postprocess hint_feedback = Postprocess::Soft;
  double teacher_forcing = 0.0;  // probability of feeding true hints (training only)
  // Evaluation diagnostic: outside training, feed the ground-truth hints at every step instead of
  // the predicted ones (separates the per-step computation from the accumulation of hint errors).
  bool eval_true_hints = false;
  bool xavier_on_scalars = true;
  int64_t sinkhorn_steps = 10;        // inside the permutation decoder
  double sinkhorn_temperature = 0.1;  // of the decoder's and the hard outputs' Sinkhorn
  int64_t hard_sinkhorn_steps = 50;   // extra rounds before the argmax of hard (evaluated) outputs
  int64_t feedback_sinkhorn_steps = 25;
};

struct NetPrediction {
  std::map<std::string, at::Tensor> outputs;             // raw decoder outputs, frozen at each sample's length
  std::vector<std::map<std::string, at::Tensor>> hints;  // hints[i]: predictions for time i+1
  int64_t steps = 0;
};

class Net : public torch::nn::Module {
 public:
  Net(const FeatureBatch& example, const NetOptions& opts);
  // Training mode (is_training()) adds Gumbel noise to Sinkhorn and applies teacher forcing.
  NetPrediction forward(const FeatureBatch& batch);
  const NetOptions& options() const { return opts_; }
  const std::vector<SpecEntry>& output_entries() const { return outputs_; }

 private:
  NetOptions opts_;
  std::vector<SpecEntry> inputs_, hints_, outputs_;
  std::shared_ptr<Encoders> encoders_;
  std::shared_ptr<Processor> processor_;
  std::shared_ptr<Decoders> decoders_;
};

// Total loss: sum over outputs (each reduced on its own) + sum over hints (each hint normalised
// over its valid entries at steps 0..T-2 of samples still running, i.e. length > step + 1).
at::Tensor net_loss(const NetPrediction& pred, const FeatureBatch& batch, const Net& net);

// Hard predictions of every output, ready for metrics (permutation pointers fused back to pointers).
std::map<std::string, at::Tensor> hard_outputs(const NetPrediction& pred, const Net& net);

}  // namespace scanlab::nar::gnn
