#include "nar/gnn/processors/triplet.h"

#include <ATen/ATen.h>

#include "nar/gnn/linear.h"

namespace scanlab::nar::gnn {

TripletMessages::TripletMessages(int64_t in_node, int64_t in_edge, int64_t in_graph, int64_t features, int64_t out) {
  t1_ = register_module("t1", make_linear(in_node, features));
  t2_ = register_module("t2", make_linear(in_node, features));
  t3_ = register_module("t3", make_linear(in_node, features));
  te1_ = register_module("te1", make_linear(in_edge, features));
  te2_ = register_module("te2", make_linear(in_edge, features));
  te3_ = register_module("te3", make_linear(in_edge, features));
  tg_ = register_module("tg", make_linear(in_graph, features));
  o3_ = register_module("o3", make_linear(features, out));
}

at::Tensor TripletMessages::forward(const at::Tensor& z, const at::Tensor& edge_fts, const at::Tensor& graph_fts) {
  // Axes of the triplet tensor: [B, i, j, k, F].
  const at::Tensor a = t1_(z).unsqueeze(2).unsqueeze(3);  // z_i
  const at::Tensor b = t2_(z).unsqueeze(1).unsqueeze(3);  // z_j
  const at::Tensor c = t3_(z).unsqueeze(1).unsqueeze(2);  // z_k
  const at::Tensor eij = te1_(edge_fts).unsqueeze(3);     // e_ij
  const at::Tensor eik = te2_(edge_fts).unsqueeze(2);     // e_ik
  const at::Tensor ejk = te3_(edge_fts).unsqueeze(1);     // e_jk
  const at::Tensor g = tg_(graph_fts).unsqueeze(1).unsqueeze(2).unsqueeze(3);
  const at::Tensor triplets = a + b + c + eij + eik + ejk + g;
  return at::relu(o3_(std::get<0>(triplets.max(1))));
}

}  // namespace scanlab::nar::gnn
