// The PGN family (CLRS): messages m[i->j] = m1(z_j) + m2(z_i) + me(e_ij) + mg(g) through a
// 2-layer MLP, max-aggregated over the senders the adjacency admits, h'_j = relu(o1(z_j) + o2(M_j)),
// optional LayerNorm, optional gate (bias -3) and triplet edge latents. The members differ only in
// which senders a receiver hears: PGN the data adjacency, MPNN everyone, DeepSets only itself.
#pragma once
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "nar/gnn/processor.h"
#include "nar/gnn/processors/triplet.h"

namespace scanlab::nar::gnn {

enum class SenderSet { DataAdjacency, Everyone, SelfOnly };

struct PgnConfig {
  SenderSet senders = SenderSet::DataAdjacency;
  bool gated = false;
  bool triplets = false;
};

class PgnProcessor : public Processor {
 public:
  PgnProcessor(const ProcessorOptions& opts, PgnConfig config);
  ProcessorOutput step(const at::Tensor& node_fts, const at::Tensor& edge_fts, const at::Tensor& graph_fts,
                       const at::Tensor& adj, const at::Tensor& hidden) override;
  bool has_edge_latents() const override { return config_.triplets; }

 private:
  at::Tensor senders_adjacency(const at::Tensor& adj) const;

  int64_t hidden_;
  PgnConfig config_;
  bool layer_norm_;
  torch::nn::Linear m1_{nullptr}, m2_{nullptr}, me_{nullptr}, mg_{nullptr};
  torch::nn::Linear mlp1_{nullptr}, mlp2_{nullptr};
  torch::nn::Linear o1_{nullptr}, o2_{nullptr};
  torch::nn::Linear gate1_{nullptr}, gate2_{nullptr}, gate3_{nullptr};
  torch::nn::LayerNorm norm_{nullptr};
  std::shared_ptr<TripletMessages> triplets_;
};

}  // namespace scanlab::nar::gnn
