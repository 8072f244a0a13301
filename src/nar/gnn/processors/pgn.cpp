#include "nar/gnn/processors/pgn.h"

#include <ATen/ATen.h>

#include "nar/gnn/linear.h"

namespace scanlab::nar::gnn {

PgnProcessor::PgnProcessor(const ProcessorOptions& opts, PgnConfig config)
    : hidden_(opts.hidden), config_(config), layer_norm_(opts.layer_norm) {
  const int64_t h = opts.hidden, z = 2 * opts.hidden;
  m1_ = register_module("m1", make_linear(z, h));
  m2_ = register_module("m2", make_linear(z, h));
  me_ = register_module("me", make_linear(h, h));
  mg_ = register_module("mg", make_linear(h, h));
  mlp1_ = register_module("mlp1", make_linear(h, h));
  mlp2_ = register_module("mlp2", make_linear(h, h));
  o1_ = register_module("o1", make_linear(z, h));
  o2_ = register_module("o2", make_linear(h, h));
  if (config_.gated) {
    gate1_ = register_module("gate1", make_linear(z, h));
    gate2_ = register_module("gate2", make_linear(h, h));
    // Bias -3: the gate starts almost closed, so early training keeps most of the old hidden state.
    gate3_ = register_module("gate3", make_linear(h, h, 0.0, -3.0));
  }
  if (layer_norm_) {
    norm_ = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({h}).eps(1e-5)));
  }
  if (config_.triplets) {
    triplets_ = register_module("triplets", std::make_shared<TripletMessages>(z, h, h, opts.triplet_features, h));
  }
}

at::Tensor PgnProcessor::senders_adjacency(const at::Tensor& adj) const {
  switch (config_.senders) {
    case SenderSet::DataAdjacency:
      return adj;
    case SenderSet::Everyone:
      return at::ones_like(adj);
    case SenderSet::SelfOnly:
      return at::eye(adj.size(1), adj.options()).unsqueeze(0).expand_as(adj);
  }
  return adj;
}

ProcessorOutput PgnProcessor::step(const at::Tensor& node_fts, const at::Tensor& edge_fts, const at::Tensor& graph_fts,
                                   const at::Tensor& adj, const at::Tensor& hidden) {
  check_processor_inputs(node_fts, edge_fts, graph_fts, adj, hidden, hidden_);
  const at::Tensor z = at::cat({node_fts, hidden}, -1);
  // msgs[b, i, j] is the message from sender i to receiver j.
  at::Tensor msgs =
      m1_(z).unsqueeze(1) + m2_(z).unsqueeze(2) + me_(edge_fts) + mg_(graph_fts).unsqueeze(1).unsqueeze(2);
  msgs = mlp2_(at::relu(mlp1_(at::relu(msgs))));
  const at::Tensor aggregated = masked_max_over_senders(msgs, senders_adjacency(adj));
  at::Tensor out = at::relu(o1_(z) + o2_(aggregated));
  if (layer_norm_) out = norm_(out);
  if (config_.gated) {
    const at::Tensor gate = at::sigmoid(gate3_(at::relu(gate1_(z) + gate2_(aggregated))));
    out = out * gate + hidden * (1 - gate);
  }
  ProcessorOutput result{out, at::Tensor()};
  if (config_.triplets) result.edges = triplets_->forward(z, edge_fts, graph_fts);
  return result;
}

}  // namespace scanlab::nar::gnn
