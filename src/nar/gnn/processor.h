// Processors of the encode-process-decode GNN (CLRS). A processor maps the step's encoded
// features and the previous hidden state to a new hidden state:
//   node_fts [B,N,H], edge_fts [B,N,N,H], graph_fts [B,H], adj [B,N,N] (0/1), hidden [B,N,H]
//   -> nodes [B,N,H] (+ edges [B,N,N,H] triplet latents for the triplet_* kinds, else undefined).
// Kinds: deepsets, mpnn, pgn, gmpnn, gpgn, triplet_mpnn, triplet_pgn, triplet_gmpnn, triplet_gpgn,
// gat, gat_full. Every kind uses max aggregation over the senders the adjacency admits.
#pragma once
#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <memory>
#include <string>
#include <vector>

namespace scanlab::nar::gnn {

struct ProcessorOptions {
  std::string kind = "mpnn";
  int64_t hidden = 128;     // H: width of node_fts and of the output
  int64_t heads = 1;        // GAT heads (must divide hidden)
  bool layer_norm = false;  // LayerNorm on the output (scale + offset, eps 1e-5)
  int64_t triplet_features = 8;
};

struct ProcessorOutput {
  at::Tensor nodes;
  at::Tensor edges;  // triplet edge latents; undefined for kinds without triplets
};

class Processor : public torch::nn::Module {
 public:
  virtual ProcessorOutput step(const at::Tensor& node_fts, const at::Tensor& edge_fts, const at::Tensor& graph_fts,
                               const at::Tensor& adj, const at::Tensor& hidden) = 0;
  virtual bool has_edge_latents() const { return false; }
};

// Throws scanlab::Error naming the kind and listing the accepted ones.
std::shared_ptr<Processor> make_processor(const ProcessorOptions& opts);
const std::vector<std::string>& processor_kinds();

// Checks the five processor inputs against each other and against `hidden_size`; the message
// names the tensor and the expected shape.
void check_processor_inputs(const at::Tensor& node_fts, const at::Tensor& edge_fts, const at::Tensor& graph_fts,
                            const at::Tensor& adj, const at::Tensor& hidden, int64_t hidden_size);

// max over senders i of values[b,i,j,:] where adj[b,i,j] is set; receivers with no admitted sender
// get -1e6 as in CLRS (never happens with the self-loops every adjacency carries).
at::Tensor masked_max_over_senders(const at::Tensor& values, const at::Tensor& adj);

}  // namespace scanlab::nar::gnn
