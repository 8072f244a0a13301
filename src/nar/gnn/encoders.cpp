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

void Encoders::accumulate(const Feature& f, EncodedFeatures& acc) {
  auto it = layers_.find(f.entry.name);
  SCANLAB_CHECK(it != layers_.end(), "no encoder for datapoint '", f.entry.name, "'");
  auto& lin = it->second;
  const int64_t n = acc.nodes.size(1);
  const SpecEntry& e = f.entry;
  const bool pointer = e.type == Type::Pointer || e.type == Type::PermutationPointer || e.type == Type::SoftPointer;
  const at::Tensor x = pointer ? dense_pointer(f, n) : f.data.to(at::kFloat);
  const at::Tensor encoded = e.type == Type::Categorical ? lin[0](x) : lin[0](x.unsqueeze(-1));

  if (is_node_pointer_like(e)) {
    acc.edges = acc.edges + encoded;  // P[i,j] = 1 iff i points to j
    acc.adj = acc.adj + ((x + x.transpose(-1, -2)) > 0.5).to(acc.adj.scalar_type());
  } else if (e.location == Location::Node) {
    acc.nodes = acc.nodes + encoded;
  } else if (e.location == Location::Edge && e.type == Type::Pointer) {
    // x[b,a,c,k] = 1 iff edge (a,c) points to node k; mean over the edge's other endpoint.
    const at::Tensor second = lin[1](x.unsqueeze(-1));
    acc.edges = acc.edges + encoded.mean(1) + second.mean(2);
  } else if (e.location == Location::Edge) {
    acc.edges = acc.edges + encoded;
    if (e.type == Type::Mask) {
      acc.adj = acc.adj + ((x + x.transpose(1, 2)) > 0.0).to(acc.adj.scalar_type());
    }
  } else if (e.type == Type::Pointer) {  // graph pointer: a one-hot over nodes becomes node features
    acc.nodes = acc.nodes + encoded;
  } else {
    acc.graph = acc.graph + encoded;
  }
  acc.adj = (acc.adj > 0).to(acc.adj.scalar_type());
}

}  // namespace scanlab::nar::gnn
