// Encoders (CLRS): one Linear(H) per encoded datapoint (two for edge pointers), added into
// node, edge and graph feature accumulators; pointers become edge features (node pointers) or node
// features (graph pointers). The adjacency starts as the identity and collects node pointers
// ((P + P^T) > 0.5) and edge masks ((M + M^T) > 0), so it is always symmetric.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>

#include <map>
#include <string>
#include <vector>

#include "nar/gnn/features.h"

namespace scanlab::nar::gnn {

struct EncodedFeatures {
  at::Tensor nodes;  // [B,N,H]
  at::Tensor edges;  // [B,N,N,H]
  at::Tensor graph;  // [B,H]
  at::Tensor adj;    // [B,N,N] in {0,1}
};

// A pointer value (indices, or an already dense distribution) as a dense distribution over nodes.
at::Tensor dense_pointer(const Feature& f, int64_t nodes);

class Encoders : public torch::nn::Module {
 public:
  // `entries` with their category counts (0 for non-categorical). Scalar hints get the Xavier-like
  // init 1/sqrt(H) when `xavier_on_scalars` (CLRS default), all others Haiku's default.
  Encoders(const std::vector<std::pair<SpecEntry, int64_t>>& entries, int64_t hidden, bool xavier_on_scalars);
  bool encodes(const std::string& name) const { return layers_.count(name) > 0; }
  // Adds one datapoint (no time axis: [B, ...]) to the accumulators. The reference path.
  void accumulate(const Feature& f, EncodedFeatures& acc);
  // Adds several datapoints with one matrix product per accumulator (node, edge, graph) instead of one
  // linear layer each: sum_k (x_k W_k^T + b_k) = [x_1 .. x_K] [W_1 .. W_K]^T + sum_k b_k. Same result as
  // calling `accumulate` on each; the unroll uses it because its steps are launch-bound on a GPU.
  void accumulate_all(const std::vector<Feature>& fs, EncodedFeatures& acc);
  EncodedFeatures zeros(int64_t batch, int64_t nodes, const at::TensorOptions& opts) const;

 private:
  int64_t hidden_;
  std::map<std::string, std::vector<torch::nn::Linear>> layers_;
};

}  // namespace scanlab::nar::gnn
