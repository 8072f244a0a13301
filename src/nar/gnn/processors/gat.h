// Graph attention processor (CLRS `gat` / `gat_full`): per head, logits
// a1(z_i) + a2(z_j) + ae(e_ij) + ag(g) for receiver i and sender j, leaky_relu (slope 0.01), masked by
// the adjacency (-1e9 on non-edges), softmax over senders, h'_i = relu(sum_j alpha_ij W z_j + skip(z_i)),
// optional LayerNorm. `gat_full` attends to every node.
#pragma once
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "nar/gnn/processor.h"

namespace scanlab::nar::gnn {

class GatProcessor : public Processor {
 public:
  GatProcessor(const ProcessorOptions& opts, bool fully_connected);
  ProcessorOutput step(const at::Tensor& node_fts, const at::Tensor& edge_fts, const at::Tensor& graph_fts,
                       const at::Tensor& adj, const at::Tensor& hidden) override;

 private:
  int64_t hidden_, heads_;
  bool fully_connected_, layer_norm_;
  torch::nn::Linear values_{nullptr}, skip_{nullptr}, a1_{nullptr}, a2_{nullptr}, ae_{nullptr}, ag_{nullptr};
  torch::nn::LayerNorm norm_{nullptr};
};

}  // namespace scanlab::nar::gnn
