#include "nar/gnn/encoders.h"

#include <cmath>

#include "core/check.h"
#include "nar/gnn/linear.h"

namespace scanlab::nar::gnn {

namespace {
bool is_node_pointer_like(const SpecEntry& e) {
  return e.location == Location::Node &&
         (e.type == Type::Pointer || e.type == Type::PermutationPointer || e.type == Type::SoftPointer);
}
}  // namespace

at::Tensor dense_pointer(const Feature& f, int64_t nodes) {
  // Index pointers have the location's node axes only; dense ones carry one more axis of size N.
  const int64_t index_rank = 1 + (f.entry.location == Location::Node ? 1 : f.entry.location == Location::Edge ? 2 : 0);
  if (f.data.dim() == index_rank) return at::one_hot(f.data.to(at::kLong), nodes).to(at::kFloat).to(f.data.device());
  SCANLAB_CHECK(f.data.dim() == index_rank + 1 && f.data.size(-1) == nodes, "pointer '", f.entry.name,
                "' must hold indices or distributions over ", nodes, " nodes, got shape ", f.data.sizes());
  return f.data.to(at::kFloat);
}

Encoders::Encoders(const std::vector<std::pair<SpecEntry, int64_t>>& entries, int64_t hidden, bool xavier_on_scalars)
    : hidden_(hidden) {
  for (const auto& [e, categories] : entries) {
    SCANLAB_CHECK(e.type != Type::ShouldBePermutation, "datapoint '", e.name,
                  "' is should_be_permutation; convert it with enforce_permutations before encoding");
    const int64_t in = e.type == Type::Categorical ? categories : 1;
    SCANLAB_CHECK(in > 0, "categorical datapoint '", e.name, "' has no categories");
    const double sd = xavier_on_scalars && e.stage == Stage::Hint && e.type == Type::Scalar
                          ? 1.0 / std::sqrt(static_cast<double>(hidden))
                          : 0.0;
    std::vector<torch::nn::Linear> lins;
    const int count = e.location == Location::Edge && e.type == Type::Pointer ? 2 : 1;
    for (int k = 0; k < count; ++k) {
      lins.push_back(register_module("enc_" + e.name + "_" + std::to_string(k), make_linear(in, hidden, sd)));
    }
    layers_[e.name] = lins;
  }
}

EncodedFeatures Encoders::zeros(int64_t b, int64_t n, const at::TensorOptions& opts) const {
  return {at::zeros({b, n, hidden_}, opts), at::zeros({b, n, n, hidden_}, opts), at::zeros({b, hidden_}, opts),
          at::eye(n, opts).unsqueeze(0).repeat({b, 1, 1})};
}

namespace {

enum Target { kNodes = 0, kEdges = 1, kGraph = 2 };

bool is_any_pointer(Type t) { return t == Type::Pointer || t == Type::PermutationPointer || t == Type::SoftPointer; }

// The value a datapoint's linear layer reads: dense distributions for pointers, floats otherwise.
at::Tensor encoder_input(const Feature& f, int64_t nodes) {
  return is_any_pointer(f.entry.type) ? dense_pointer(f, nodes) : f.data.to(at::kFloat);
}

// Node pointers (P[i,j] = 1 iff i points to j) and edge masks join the adjacency, symmetrised.
void update_adjacency(const SpecEntry& e, const at::Tensor& x, EncodedFeatures& acc) {
  if (is_node_pointer_like(e)) {
    acc.adj = at::clamp_max(acc.adj + ((x + x.transpose(-1, -2)) > 0.5).to(acc.adj.scalar_type()), 1.0);
  } else if (e.location == Location::Edge && e.type == Type::Mask) {
    acc.adj = at::clamp_max(acc.adj + ((x + x.transpose(1, 2)) > 0.0).to(acc.adj.scalar_type()), 1.0);
  }
}

// Which accumulator a single-linear datapoint is added to: node pointers become edge features,
// graph pointers (a one-hot over nodes) node features.
Target target_of(const SpecEntry& e) {
  if (is_node_pointer_like(e)) return kEdges;
  if (e.location == Location::Node) return kNodes;
  if (e.location == Location::Edge) return kEdges;
  return e.type == Type::Pointer ? kNodes : kGraph;
}

at::Tensor& accumulator(EncodedFeatures& acc, Target t) {
  return t == kNodes ? acc.nodes : t == kEdges ? acc.edges : acc.graph;
}

}  // namespace

void Encoders::accumulate(const Feature& f, EncodedFeatures& acc) {
  auto it = layers_.find(f.entry.name);
  SCANLAB_CHECK(it != layers_.end(), "no encoder for datapoint '", f.entry.name, "'");
  auto& lin = it->second;
  const SpecEntry& e = f.entry;
  const at::Tensor x = encoder_input(f, acc.nodes.size(1));
  const at::Tensor encoded = e.type == Type::Categorical ? lin[0](x) : lin[0](x.unsqueeze(-1));
  update_adjacency(e, x, acc);
  if (e.location == Location::Edge && e.type == Type::Pointer) {
    // x[b,a,c,k] = 1 iff edge (a,c) points to node k; mean over the edge's other endpoint.
    const at::Tensor second = lin[1](x.unsqueeze(-1));
    acc.edges = acc.edges + encoded.mean(1) + second.mean(2);
    return;
  }
  at::Tensor& target = accumulator(acc, target_of(e));
  target = target + encoded;
}

void Encoders::accumulate_all(const std::vector<Feature>& fs, EncodedFeatures& acc) {
  std::vector<at::Tensor> columns[3], weights[3], biases[3];
  for (const auto& f : fs) {
    const SpecEntry& e = f.entry;
    if (e.location == Location::Edge && e.type == Type::Pointer) {  // two layers and means: no shared product
      accumulate(f, acc);
      continue;
    }
    auto it = layers_.find(e.name);
    SCANLAB_CHECK(it != layers_.end(), "no encoder for datapoint '", e.name, "'");
    const at::Tensor x = encoder_input(f, acc.nodes.size(1));
    update_adjacency(e, x, acc);
    const Target t = target_of(e);
    columns[t].push_back(e.type == Type::Categorical ? x : x.unsqueeze(-1));
    weights[t].push_back(it->second[0]->weight);
    biases[t].push_back(it->second[0]->bias);
  }
  for (Target t : {kNodes, kEdges, kGraph}) {
    if (columns[t].empty()) continue;
    const at::Tensor x = columns[t].size() == 1 ? columns[t][0] : at::cat(columns[t], -1);
    const at::Tensor w = weights[t].size() == 1 ? weights[t][0] : at::cat(weights[t], 1);
    const at::Tensor b = biases[t].size() == 1 ? biases[t][0] : at::stack(biases[t]).sum(0);
    at::Tensor& target = accumulator(acc, t);
    target = target + at::linear(x, w, b);
  }
}

}  // namespace scanlab::nar::gnn
