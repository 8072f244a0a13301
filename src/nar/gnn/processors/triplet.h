// Triplet edge messages (Dudzik & Veličković 2022, as in CLRS's get_triplet_msgs): for every
// triple (i, j, k) t = t1(z_i) + t2(z_j) + t3(z_k) + te1(e_ij) + te2(e_ik) + te3(e_jk) + tg(g) with
// `features` channels, then the edge latent of (j, k) is relu(o3(max_i t[i,j,k])). The latents go to
// the decoders only (concatenated to edge features); they never enter the node update.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>

namespace scanlab::nar::gnn {

class TripletMessages : public torch::nn::Module {
 public:
  TripletMessages(int64_t in_node, int64_t in_edge, int64_t in_graph, int64_t features, int64_t out);
  // z [B,N,Dz], edge_fts [B,N,N,De], graph_fts [B,Dg] -> [B,N,N,out]
  at::Tensor forward(const at::Tensor& z, const at::Tensor& edge_fts, const at::Tensor& graph_fts);

 private:
  torch::nn::Linear t1_{nullptr}, t2_{nullptr}, t3_{nullptr}, te1_{nullptr}, te2_{nullptr}, te3_{nullptr}, tg_{nullptr},
      o3_{nullptr};
};

}  // namespace scanlab::nar::gnn
