#include "nar/gnn/processors/gat.h"

#include <ATen/ATen.h>

#include "core/check.h"
#include "nar/gnn/linear.h"

namespace scanlab::nar::gnn {

GatProcessor::GatProcessor(const ProcessorOptions& opts, bool fully_connected)
    : hidden_(opts.hidden), heads_(opts.heads), fully_connected_(fully_connected), layer_norm_(opts.layer_norm) {
  SCANLAB_CHECK(heads_ > 0 && hidden_ % heads_ == 0, "GAT heads (", heads_, ") must divide the hidden size (", hidden_,
                ")");
  const int64_t h = opts.hidden, z = 2 * opts.hidden;
  values_ = register_module("values", make_linear(z, h));
  skip_ = register_module("skip", make_linear(z, h));
  a1_ = register_module("a1", make_linear(z, heads_));
  a2_ = register_module("a2", make_linear(z, heads_));
  ae_ = register_module("ae", make_linear(h, heads_));
  ag_ = register_module("ag", make_linear(h, heads_));
  if (layer_norm_) {
    norm_ = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({h}).eps(1e-5)));
  }
}

ProcessorOutput GatProcessor::step(const at::Tensor& node_fts, const at::Tensor& edge_fts, const at::Tensor& graph_fts,
                                   const at::Tensor& adj, const at::Tensor& hidden) {
  check_processor_inputs(node_fts, edge_fts, graph_fts, adj, hidden, hidden_);
  const int64_t b = node_fts.size(0), n = node_fts.size(1), head_size = hidden_ / heads_;
  const at::Tensor z = at::cat({node_fts, hidden}, -1);
  const at::Tensor mask = fully_connected_ ? at::ones_like(adj) : adj;
  const at::Tensor bias = ((mask - 1.0) * 1e9).unsqueeze(1);                                   // [B,1,N,N]
  const at::Tensor values = values_(z).view({b, n, heads_, head_size}).permute({0, 2, 1, 3});  // [B,h,N,F]
  const at::Tensor logits = a1_(z).permute({0, 2, 1}).unsqueeze(3) +                           // receiver i: [B,h,N,1]
                            a2_(z).permute({0, 2, 1}).unsqueeze(2) +                           // sender j:   [B,h,1,N]
                            ae_(edge_fts).permute({0, 3, 1, 2}) +                              // e_ij:       [B,h,N,N]
                            ag_(graph_fts).unsqueeze(2).unsqueeze(3);                          // g:          [B,h,1,1]
  const at::Tensor coefs = at::softmax(at::leaky_relu(logits, 0.01) + bias, -1);
  at::Tensor out = at::matmul(coefs, values).permute({0, 2, 1, 3}).reshape({b, n, hidden_});
  out = at::relu(out + skip_(z));
  if (layer_norm_) out = norm_(out);
  return {out, at::Tensor()};
}

}  // namespace scanlab::nar::gnn
